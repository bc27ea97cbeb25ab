import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../../harness/errors.ts';
import { connect } from '../../harness/k8s/client.ts';
import {
  type SimulatedCluster,
  readSimOptions,
  startSimulatedCluster,
} from '../../simulator/cluster.ts';
import {
  detectIstio,
  imageVersion,
  readMeshSettings,
  statsMatcherIncludesOutbound,
} from '../../harness/istio/detect.ts';

describe('readMeshSettings', () => {
  it("applies Istio's defaults to an empty mesh config", () => {
    expect(readMeshSettings('')).toEqual({
      accessLog: { enabled: false, encoding: 'TEXT' },
      outboundStatsIncluded: false,
      outboundTrafficPolicy: 'ALLOW_ANY',
      trustDomain: 'cluster.local',
    });
  });

  it('reads access logging, the stats matcher, the outbound policy and the trust domain', () => {
    const mesh = [
      'accessLogFile: /dev/stdout',
      'accessLogEncoding: JSON',
      'outboundTrafficPolicy: {mode: REGISTRY_ONLY}',
      'trustDomain: example.org',
      'rootNamespace: istio-config',
      'defaultConfig:',
      '  proxyStatsMatcher:',
      '    inclusionPrefixes: [cluster.outbound]',
    ].join('\n');
    expect(readMeshSettings(mesh)).toEqual({
      accessLog: { enabled: true, encoding: 'JSON' },
      outboundStatsIncluded: true,
      outboundTrafficPolicy: 'REGISTRY_ONLY',
      trustDomain: 'example.org',
      rootNamespace: 'istio-config',
    });
  });
});

describe('statsMatcherIncludesOutbound', () => {
  it.each([
    [{ inclusionPrefixes: ['cluster.outbound'] }, true],
    [{ inclusionPrefixes: ['cluster_manager', 'cluster.'] }, true],
    [{ inclusionPrefixes: ['cluster'] }, true],
    [{ inclusionPrefixes: ['cluster.outbound|80||'] }, false],
    [{ inclusionPrefixes: ['cluster_manager', 'listener_manager'] }, false],
    [{ inclusionSuffixes: ['upstream_cx_total', 'upstream_rq_total'] }, true],
    [{ inclusionSuffixes: ['upstream_rq_total'] }, false],
    [{ inclusionRegexps: ['cluster\\.outbound\\|.*'] }, true],
    [{ inclusionRegexps: ['outbound'] }, false],
    [{ inclusionRegexps: ['(unclosed'] }, false],
    [undefined, false],
  ])('%j keeps the per-upstream counters: %s', (matcher, expected) => {
    expect(statsMatcherIncludesOutbound(matcher)).toBe(expected);
  });
});

describe('imageVersion', () => {
  it.each([
    ['registry.istio.io/release/pilot:1.31.1', '1.31.1'],
    ['docker.io/istio/pilot:1.30.5-distroless', '1.30.5'],
    ['localhost:5000/istio/pilot:1.31.0-rc.0@sha256:abc', '1.31.0-rc.0'],
    ['mirror.example:5000/pilot:custom-build', 'custom-build'],
    ['mirror.example:5000/pilot', 'unknown (untagged image)'],
  ])('%s → %s', (image, version) => {
    expect(imageVersion(image)).toBe(version);
  });
});

describe('detectIstio against the simulated API server', () => {
  let cluster: SimulatedCluster | undefined;
  let dir: string | undefined;

  async function start(istio?: {
    accessLogEncoding: 'TEXT' | 'JSON';
    outboundStatsIncluded: boolean;
  }): Promise<SimulatedCluster> {
    dir = await mkdtemp(join(tmpdir(), 'egc-detect-'));
    cluster = await startSimulatedCluster({
      options: readSimOptions({}),
      dir,
      // detectIstio never execs; a stub keeps this test independent of the mesh model.
      createExecHandler: () => ({
        exec: () => Promise.resolve({ stdout: '', stderr: 'no exec here', exitCode: 126 }),
      }),
      ...(istio ? { istio: { version: '1.30.5', install: true, ...istio } } : {}),
    });
    return cluster;
  }

  afterEach(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    cluster = undefined;
  });

  it('describes the installed Istio: version, revision, gateway, mesh settings', async () => {
    const sim = await start({ accessLogEncoding: 'JSON', outboundStatsIncluded: true });
    const istio = await detectIstio(connect({ kubeconfigPath: sim.kubeconfigPath }));
    expect(istio).toEqual({
      version: '1.30.5',
      revision: 'default',
      namespace: 'istio-system',
      gateway: {
        namespace: 'istio-system',
        serviceName: 'istio-egressgateway',
        selector: { key: 'istio', value: 'egressgateway' },
        serviceAccount: 'istio-egressgateway-service-account',
      },
      accessLog: { enabled: true, encoding: 'JSON' },
      outboundStatsIncluded: true,
      outboundTrafficPolicy: 'ALLOW_ANY',
      trustDomain: 'cluster.local',
    });
  });

  it('reports TEXT logs and missing outbound stats as installed', async () => {
    const sim = await start({ accessLogEncoding: 'TEXT', outboundStatsIncluded: false });
    const istio = await detectIstio(connect({ kubeconfigPath: sim.kubeconfigPath }));
    expect(istio.accessLog).toEqual({ enabled: true, encoding: 'TEXT' });
    expect(istio.outboundStatsIncluded).toBe(false);
  });

  it('says plainly that there is no Istio, and that the run will not install one', async () => {
    const sim = await start();
    const failure = await detectIstio(connect({ kubeconfigPath: sim.kubeconfigPath })).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(
      /^No istiod deployment \(label app=istiod\) was found in any namespace of https:\/\/127\.0\.0\.1:\d+; install Istio with an egress gateway first/,
    );
  });

  it('names the missing egress gateway and the label it looked for', async () => {
    const sim = await start({ accessLogEncoding: 'JSON', outboundStatsIncluded: true });
    const kube = connect({ kubeconfigPath: sim.kubeconfigPath });
    await expect(
      detectIstio(kube, { gatewaySelector: { key: 'istio', value: 'my-egress' } }),
    ).rejects.toThrow(
      /^No egress gateway pods labelled istio=my-egress exist in any namespace of /,
    );
  });

  it('refuses to guess when an asked-for revision is not installed', async () => {
    const sim = await start({ accessLogEncoding: 'JSON', outboundStatsIncluded: true });
    await expect(
      detectIstio(connect({ kubeconfigPath: sim.kubeconfigPath }), { revision: 'canary' }),
    ).rejects.toThrow(
      /^No istiod of revision canary was found \(found: istio-system\/istiod \(revision default\)\)/,
    );
  });
});
