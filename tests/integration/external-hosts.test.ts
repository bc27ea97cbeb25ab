import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../../harness/errors.ts';
import { type Kube, connect } from '../../harness/k8s/client.ts';
import {
  type SimulatedCluster,
  readSimOptions,
  startSimulatedCluster,
} from '../../simulator/cluster.ts';
import { KIND_COREFILE } from '../../simulator/standins/kind-world.ts';
import {
  COREDNS,
  addDnsEntries,
  removeDnsEntries,
  withHostsBlock,
  withoutHostsBlock,
} from '../../harness/external/coredns.ts';
import { ANY_HTTP_STATUS, namedHosts, validateHostName } from '../../harness/external/host.ts';
import { internetHosts } from '../../harness/external/internet.ts';
import {
  LOCAL_HOST_DOMAIN,
  localHostName,
  renderNginxConfig,
  startLocalExternalHosts,
} from '../../harness/external/local.ts';

describe('internet and host modes', () => {
  it('expects what the documentation shows for edition.cnn.com', () => {
    expect(internetHosts(['http-gateway'])).toEqual({
      'http-gateway': {
        name: 'edition.cnn.com',
        mode: 'internet',
        expect: {
          http: { status: 301, locationPrefix: 'https://edition.cnn.com/' },
          https: { status: 200 },
        },
        insecure: false,
      },
    });
  });

  it('expects any HTTP answer from a user-named host, verified against public CAs', () => {
    const hosts = namedHosts(['http-gateway', 'passthrough'], 'Egress-Check.example.com');
    expect(hosts.passthrough).toEqual({
      name: 'egress-check.example.com',
      mode: 'host',
      expect: { http: { status: ANY_HTTP_STATUS }, https: { status: ANY_HTTP_STATUS } },
      insecure: false,
    });
    expect(hosts['http-gateway']?.expect).not.toBe(hosts.passthrough?.expect);
  });

  it('asks for a bare DNS name', () => {
    expect(() => validateHostName(undefined)).toThrow(/pass --external host:<dns-name>/);
    expect(() => validateHostName('https://example.com/x')).toThrow(
      /^--external host:https:\/\/example\.com\/x is not a DNS name; pass the bare host name/,
    );
    expect(() => validateHostName('localhost')).toThrow(EnvironmentError);
    expect(validateHostName('approved.example.org')).toBe('approved.example.org');
  });
});

describe('local mode', () => {
  it('serves each suite under its own made-up name with its own certificate and header', () => {
    expect(localHostName('passthrough')).toBe('passthrough.egress-conformance.test');
    const config = renderNginxConfig(['a.egress-conformance.test', 'b.egress-conformance.test']);
    expect(config).toContain('server_name a.egress-conformance.test;');
    expect(config).toContain(
      'ssl_certificate /etc/egress-conformance/b.egress-conformance.test.crt;',
    );
    expect(config).toContain(
      'add_header x-egress-conformance-host a.egress-conformance.test always;',
    );
    expect(config).toContain('location = /healthz { return 200 "ok\\n"; }');
    expect(config.match(/listen 443 ssl/g)).toHaveLength(3);
  });

  it('reports a missing container engine as an environment error naming the image and network', async () => {
    const previous = process.env.DOCKER_HOST;
    // An engine address nothing listens on: the same outcome on every machine.
    process.env.DOCKER_HOST = 'tcp://127.0.0.1:1';
    try {
      const failure = await startLocalExternalHosts({
        suites: ['http-gateway'],
        kube: {} as Kube,
        runId: 'r1',
        timeoutMs: 1_000,
      }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(EnvironmentError);
      expect((failure as Error).message).toMatch(
        /^The local external host \(nginx:1\.27\.5-alpine on Docker network kind\) did not start \(.+\); check that Docker can pull/,
      );
    } finally {
      if (previous === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = previous;
    }
  });
});

describe('the CoreDNS hosts block', () => {
  const entries = [
    { name: 'http-gateway.egress-conformance.test', address: '172.18.0.9' },
    { name: 'passthrough.egress-conformance.test', address: '172.18.0.9' },
  ];

  it('adds a server block for the zone and removes it exactly', () => {
    const added = withHostsBlock(KIND_COREFILE, LOCAL_HOST_DOMAIN, entries);
    expect(added.startsWith(KIND_COREFILE)).toBe(true);
    expect(added).toContain(
      'egress-conformance.test:53 {\n    hosts {\n        172.18.0.9 http-gateway.egress-conformance.test\n        172.18.0.9 passthrough.egress-conformance.test\n    }\n}',
    );
    expect(withoutHostsBlock(added)).toBe(KIND_COREFILE);
    expect(withoutHostsBlock(KIND_COREFILE)).toBe(KIND_COREFILE);
  });

  it('replaces the block an earlier run left instead of adding a second one', () => {
    const first = withHostsBlock(KIND_COREFILE, LOCAL_HOST_DOMAIN, entries);
    const second = withHostsBlock(first, LOCAL_HOST_DOMAIN, [
      { name: 'x.egress-conformance.test', address: '172.18.0.7' },
    ]);
    expect(second.match(/egress-conformance\.test:53/g)).toHaveLength(1);
    expect(second).toContain('172.18.0.7 x.egress-conformance.test');
    expect(second).not.toContain('172.18.0.9');
  });

  describe('against the simulated API server', () => {
    let cluster: SimulatedCluster;
    let dir: string;
    let kube: Kube;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'egc-coredns-'));
      cluster = await startSimulatedCluster({
        options: readSimOptions({}),
        dir,
        createExecHandler: () => ({
          exec: () => Promise.resolve({ stdout: '', stderr: '', exitCode: 126 }),
        }),
      });
      kube = connect({ kubeconfigPath: cluster.kubeconfigPath });
      await kube.core.createNamespacedConfigMap({
        namespace: COREDNS.namespace,
        body: { metadata: { name: COREDNS.configMap }, data: { Corefile: KIND_COREFILE } },
      });
    });

    afterAll(async () => {
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('writes the entries, restarts CoreDNS, and restores the Corefile byte for byte', async () => {
      const before = await kube.apps.readNamespacedDeployment({
        namespace: 'kube-system',
        name: 'coredns',
      });
      await addDnsEntries(kube, { zone: LOCAL_HOST_DOMAIN, entries, timeoutMs: 10_000 });
      const configMap = await kube.core.readNamespacedConfigMap({
        namespace: 'kube-system',
        name: 'coredns',
      });
      expect(configMap.data?.Corefile).toBe(
        withHostsBlock(KIND_COREFILE, LOCAL_HOST_DOMAIN, entries),
      );
      const after = await kube.apps.readNamespacedDeployment({
        namespace: 'kube-system',
        name: 'coredns',
      });
      expect(after.metadata?.generation).toBeGreaterThan(before.metadata?.generation ?? 0);
      expect(
        after.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'],
      ).toBeDefined();

      await removeDnsEntries(kube);
      const restored = await kube.core.readNamespacedConfigMap({
        namespace: 'kube-system',
        name: 'coredns',
      });
      expect(restored.data?.Corefile).toBe(KIND_COREFILE);
    });
  });
});
