import { beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject, SimExternalHost } from '../types.ts';
import { identityFromCerts, identityFromConfigDump } from '../../harness/envoy/identity.ts';
import { registryOnly } from './scenarios.ts';
import {
  DEFAULT_MESH,
  GATEWAY_NAMESPACE,
  GATEWAY_POD,
  clientPod,
  curl,
  exec,
  gatewayLog,
  localHost,
  parseLogLine,
  type World,
} from './testing.ts';

let host: SimExternalHost;
beforeAll(() => {
  host = localHost('registry.egress-conformance.test', '203.0.113.70');
});

function clientLog(world: World, pod: KubeObject): ReturnType<typeof parseLogLine>[] {
  return world.logs.of(pod.metadata.namespace ?? '', pod.metadata.name).map(parseLogLine);
}

function sidecar(ns: string, name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'Sidecar',
    metadata: { name, namespace: ns, creationTimestamp: new Date().toISOString() },
    spec,
  };
}

describe("the Sidecar resource's outbound traffic policy", () => {
  it('before the Sidecar, an unknown host is passed through (allow_any)', async () => {
    const { world, client } = registryOnly(host, { withSidecar: false });
    const result = await curl(world, client, { url: `http://${host.name}/b7`, maxTimeSeconds: 5 });
    expect(result.headers['x-egress-conformance-host']).toBe(host.name);
    expect(clientLog(world, client).at(-1)).toMatchObject({
      routeName: 'allow_any',
      upstreamCluster: 'PassthroughCluster',
    });
  });

  it('with REGISTRY_ONLY in the namespace, HTTP gets 502 from block_all and TLS is reset by BlackHoleCluster', async () => {
    const { world, client } = registryOnly(host);
    const http = await curl(world, client, { url: `http://${host.name}/b7`, maxTimeSeconds: 5 });
    expect(http.status).toBe(502);
    expect(clientLog(world, client).at(-1)).toMatchObject({
      path: '/b7',
      code: 502,
      details: 'direct_response',
      routeName: 'block_all',
    });
    const tls = await curl(world, client, {
      url: `https://${host.name}/`,
      maxTimeSeconds: 5,
      insecure: true,
    });
    expect(tls.exitCode).not.toBe(0);
    expect([6, 28]).not.toContain(tls.exitCode);
    expect(clientLog(world, client).at(-1)).toMatchObject({
      sni: host.name,
      flags: 'UH',
      upstreamCluster: 'BlackHoleCluster',
    });
    const dump = await exec(world, client, 'istio-proxy', [
      'pilot-agent',
      'request',
      'GET',
      'config_dump',
    ]);
    expect(dump.stdout).toContain('"name": "block_all"');
  });

  it('the registered host still leaves through the gateway under the Sidecar', async () => {
    const { world, client, register } = registryOnly(host);
    register();
    const http = await curl(world, client, { url: `http://${host.name}/b7-se`, maxTimeSeconds: 5 });
    expect(http.headers['x-egress-conformance-host']).toBe(host.name);
    expect(gatewayLog(world).map(parseLogLine).at(-1)).toMatchObject({
      path: '/b7-se',
      upstreamCluster: `outbound|80||${host.name}`,
    });
  });

  it('is namespace-scoped: a client in another namespace keeps the mesh policy', async () => {
    const { world } = registryOnly(host);
    const other = world.view.apply(clientPod('egress-b7-plain', { sidecar: true }));
    const result = await curl(world, other, { url: `http://${host.name}/x`, maxTimeSeconds: 5 });
    expect(result.headers['x-egress-conformance-host']).toBe(host.name);
  });

  it('respects workloadSelector: a Sidecar selecting other pods leaves the client alone', async () => {
    const { world, client, namespace } = registryOnly(host, { withSidecar: false });
    world.view.apply(
      sidecar(namespace, 'others', {
        workloadSelector: { labels: { app: 'not-curl' } },
        outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
      }),
    );
    const result = await curl(world, client, { url: `http://${host.name}/x`, maxTimeSeconds: 5 });
    expect(result.headers['x-egress-conformance-host']).toBe(host.name);
  });

  it('a selecting Sidecar wins over the namespace-wide one, and ALLOW_ANY overrides the mesh', async () => {
    const { world, client, namespace } = registryOnly(host, {
      mesh: { ...DEFAULT_MESH, outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } },
    });
    // The suite's namespace-wide REGISTRY_ONLY Sidecar is there; one selecting the client says ALLOW_ANY.
    world.view.apply(
      sidecar(namespace, 'curl-allow', {
        workloadSelector: { labels: { app: 'curl' } },
        outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
      }),
    );
    const result = await curl(world, client, { url: `http://${host.name}/x`, maxTimeSeconds: 5 });
    expect(result.headers['x-egress-conformance-host']).toBe(host.name);
  });

  it('a root-namespace Sidecar without selector applies where the namespace has none', async () => {
    const { world, client } = registryOnly(host, { withSidecar: false });
    world.view.apply(
      sidecar('istio-system', 'default', { outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } }),
    );
    const result = await curl(world, client, { url: `http://${host.name}/x`, maxTimeSeconds: 5 });
    expect(result.status).toBe(502);
  });

  it('registry-only-ignored: the Sidecar is ignored and the unknown host answers', async () => {
    const { world, client } = registryOnly(host, { faults: ['registry-only-ignored'] });
    const result = await curl(world, client, { url: `http://${host.name}/x`, maxTimeSeconds: 5 });
    expect(result.headers['x-egress-conformance-host']).toBe(host.name);
  });
});

describe("the gateway's workload identity", () => {
  async function admin(world: World, path: string): Promise<string> {
    const gateway = world.view.get('Pod', GATEWAY_NAMESPACE, GATEWAY_POD);
    if (!gateway) throw new Error('no gateway pod');
    return (await exec(world, gateway, 'istio-proxy', ['pilot-agent', 'request', 'GET', path]))
      .stdout;
  }
  const expected = 'spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account';

  it('config_dump and certs show the SPIFFE ID of its service account, as the harness reads them', async () => {
    const { world } = registryOnly(host);
    expect(identityFromConfigDump(await admin(world, 'config_dump'))).toEqual({
      source: 'config_dump',
      uris: [expected],
    });
    expect(identityFromCerts(await admin(world, 'certs'))?.uris).toEqual([expected]);
  });

  it('wrong-gateway-identity: the gateway holds the default service account instead', async () => {
    const { world } = registryOnly(host, { faults: ['wrong-gateway-identity'] });
    expect(identityFromConfigDump(await admin(world, 'config_dump'))?.uris).toEqual([
      'spiffe://cluster.local/ns/istio-system/sa/default',
    ]);
  });

  it('follows the mesh config trust domain', async () => {
    const { world } = registryOnly(host, {
      mesh: { ...DEFAULT_MESH, trustDomain: 'corp.example' },
    });
    expect(identityFromConfigDump(await admin(world, 'config_dump'))?.uris).toEqual([
      'spiffe://corp.example/ns/istio-system/sa/istio-egressgateway-service-account',
    ]);
  });
});
