import { beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject, SimExternalHost } from '../types.ts';
import { httpGateway, httpGatewayMutualTls, manifestValues } from './scenarios.ts';
import {
  GATEWAY_HOST,
  GATEWAY_IP,
  GATEWAY_NAMESPACE,
  GATEWAY_POD,
  clientPod,
  createWorld,
  curl,
  exec,
  gatewayLog,
  localHost,
  manifest,
  namespace,
  parseLogLine,
} from './testing.ts';

const HOST = 'http-gateway.egress-conformance.test';

let host: SimExternalHost;
beforeAll(() => {
  host = localHost(HOST, '203.0.113.10');
});

describe('B1 http-gateway', () => {
  it('routes port 80 through the gateway, which logs the request with its upstream cluster', async () => {
    const { world, client, namespace: ns } = httpGateway(host);
    const result = await curl(world, client, {
      url: `http://${HOST}/b1-unique-1`,
      maxTimeSeconds: 5,
    });
    expect(result.exitCode).toBe(0);
    expect(result.status).toBe(200);
    expect(result.headers['x-egress-conformance-host']).toBe(HOST);
    expect(result.body).toContain('/b1-unique-1');
    expect(result.remoteIp).toBe('203.0.113.10');

    const lines = gatewayLog(world);
    expect(lines).toHaveLength(1);
    const entry = parseLogLine(lines[0] ?? '');
    expect(entry).toMatchObject({
      method: 'GET',
      path: '/b1-unique-1',
      protocol: 'HTTP/2',
      code: 200,
      flags: '-',
      details: 'via_upstream',
      authority: HOST,
      upstreamHost: '203.0.113.10:80',
      upstreamCluster: `outbound|80||${HOST}`,
      downstreamLocal: `${GATEWAY_IP}:8080`,
      sni: '-',
      userAgent: 'curl/8.11.1',
      forwardedFor: client.status?.podIP,
    });
    expect(entry?.downstreamRemote.startsWith(`${String(client.status?.podIP)}:`)).toBe(true);
    expect(entry?.startTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const logged = world.logs.lines.find((line) => line.pod === GATEWAY_POD);
    expect(logged?.at?.toISOString()).toBe(entry?.startTime);

    // The client's own sidecar logged the hop to the gateway subset, with the same request id.
    expect(parseLogLine(world.logs.of(ns, client.metadata.name)[0] ?? '')).toMatchObject({
      code: 200,
      upstreamCluster: `outbound|80|egress|${GATEWAY_HOST}`,
      upstreamHost: `${GATEWAY_IP}:8080`,
      requestId: entry?.requestId,
    });
  });

  it('leaves no gateway entry before the VirtualService exists (negative control)', async () => {
    const { world, client, namespace: ns } = httpGateway(host, { withVirtualService: false });
    const result = await curl(world, client, {
      url: `http://${HOST}/b1-before`,
      maxTimeSeconds: 5,
    });
    expect(result.status).toBe(200);
    expect(result.headers['x-egress-conformance-host']).toBe(HOST);
    expect(gatewayLog(world)).toEqual([]);
    expect(parseLogLine(world.logs.of(ns, client.metadata.name)[0] ?? '')).toMatchObject({
      upstreamCluster: `outbound|80||${HOST}`,
      routeName: 'default',
    });
  });

  it('does not send https on 443 through the gateway in the B1 setup', async () => {
    const { world, client } = httpGateway(host);
    const result = await curl(world, client, {
      url: `https://${HOST}/`,
      maxTimeSeconds: 5,
      insecure: true,
    });
    expect(result.exitCode).toBe(0);
    expect(result.status).toBe(200);
    expect(result.certificates[0]?.subject).toBe(`CN = ${HOST}`);
    expect(gatewayLog(world)).toEqual([]);
  });

  it('writes JSON entries with Istio default keys when the mesh config asks for JSON', async () => {
    const world = createWorld({
      hosts: [host],
      mesh: { accessLogFile: '/dev/stdout', accessLogEncoding: 'JSON' },
    });
    const values = manifestValues(HOST, 'egress-json', 'egress-json');
    world.view.apply(namespace('egress-json'));
    const client = world.view.apply(clientPod('egress-json', { sidecar: true }));
    for (const file of ['service-entry', 'gateway', 'destination-rule', 'virtual-service']) {
      for (const obj of manifest(`http-gateway/istio-api/${file}.yaml`, values))
        world.view.apply(obj);
    }
    await curl(world, client, { url: `http://${HOST}/json-path`, maxTimeSeconds: 5 });
    const entry = JSON.parse(gatewayLog(world)[0] ?? '{}') as Record<string, unknown>;
    expect(entry).toMatchObject({
      method: 'GET',
      path: '/json-path',
      protocol: 'HTTP/2',
      response_code: 200,
      response_flags: null,
      authority: HOST,
      upstream_cluster: `outbound|80||${HOST}`,
      upstream_host: '203.0.113.10:80',
      requested_server_name: null,
      user_agent: 'curl/8.11.1',
    });
    expect(typeof entry.upstream_service_time).toBe('string');
    expect(Object.keys(entry)).toEqual([...Object.keys(entry)].sort());
    expect(Object.keys(entry)).toHaveLength(24);
  });

  it('writes nothing when access logs are off', async () => {
    const world = createWorld({ hosts: [host], mesh: { accessLogFile: '' } });
    const values = manifestValues(HOST, 'egress-quiet', 'egress-quiet');
    world.view.apply(namespace('egress-quiet'));
    const client = world.view.apply(clientPod('egress-quiet', { sidecar: true }));
    for (const file of ['service-entry', 'gateway', 'destination-rule', 'virtual-service']) {
      for (const obj of manifest(`http-gateway/istio-api/${file}.yaml`, values))
        world.view.apply(obj);
    }
    const result = await curl(world, client, { url: `http://${HOST}/quiet`, maxTimeSeconds: 5 });
    expect(result.status).toBe(200);
    expect(world.logs.lines).toEqual([]);
  });

  it('counts requests at the gateway; upstream HTTP connections are pooled', async () => {
    const { world, client } = httpGateway(host);
    for (let i = 0; i < 3; i++)
      await curl(world, client, { url: `http://${HOST}/pooled-${i}`, maxTimeSeconds: 5 });
    const gateway = world.view.get('Pod', GATEWAY_NAMESPACE, GATEWAY_POD) as KubeObject;
    const stats = await exec(world, gateway, 'istio-proxy', [
      'pilot-agent',
      'request',
      'GET',
      'stats',
    ]);
    expect(stats.stdout).toContain(`cluster.outbound|80||${HOST}.upstream_rq_total: 3\n`);
    expect(stats.stdout).toContain(`cluster.outbound|80||${HOST}.upstream_cx_total: 1\n`);
    expect(stats.stdout).toContain('server.live: 1\n');
  });
});

describe('B2 http-gateway with mutual TLS', () => {
  it('originates Istio mTLS to the gateway, which unwraps it and forwards to port 80', async () => {
    const { world, client, namespace: ns } = httpGatewayMutualTls(host);
    const result = await curl(world, client, {
      url: `http://${HOST}/b2-unique`,
      maxTimeSeconds: 5,
    });
    expect(result.status).toBe(200);
    expect(result.headers['x-egress-conformance-host']).toBe(HOST);
    expect(parseLogLine(gatewayLog(world)[0] ?? '')).toMatchObject({
      method: 'GET',
      path: '/b2-unique',
      protocol: 'HTTP/1.1',
      code: 200,
      authority: HOST,
      upstreamCluster: `outbound|80||${HOST}`,
      downstreamLocal: `${GATEWAY_IP}:8443`,
      sni: HOST,
    });
    expect(parseLogLine(world.logs.of(ns, client.metadata.name)[0] ?? '')).toMatchObject({
      upstreamCluster: `outbound|443|egress|${GATEWAY_HOST}`,
      upstreamHost: `${GATEWAY_IP}:8443`,
    });
  });

  it('refuses plain HTTP sent straight to the gateway service on 443', async () => {
    const { world, plain } = httpGatewayMutualTls(host);
    const direct = await curl(world, plain, {
      url: `http://${GATEWAY_HOST}:443/b2-plain`,
      maxTimeSeconds: 5,
      headers: { Host: HOST },
    });
    expect(direct.exitCode).toBe(56);
    expect(direct.error).toBe('Recv failure: Connection reset by peer');
    expect(direct.headers['x-egress-conformance-host']).toBeUndefined();
    const resolved = await curl(world, plain, {
      url: `http://${HOST}:443/b2-plain`,
      maxTimeSeconds: 5,
      resolve: [`${HOST}:443:10.96.0.50`],
    });
    expect(resolved.exitCode).toBe(56);
    expect(gatewayLog(world)).toEqual([]);
  });

  it("shows the gateway's SPIFFE identity in its certs", async () => {
    const { world } = httpGatewayMutualTls(host);
    const gateway = world.view.get('Pod', GATEWAY_NAMESPACE, GATEWAY_POD) as KubeObject;
    const certs = await exec(world, gateway, 'istio-proxy', [
      'pilot-agent',
      'request',
      'GET',
      'certs',
    ]);
    expect(certs.exitCode).toBe(0);
    expect(certs.stdout).toContain(
      'spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account',
    );
  });

  it('fails (503, no gateway entry) when the DestinationRule does not originate mTLS for that port', async () => {
    const s = httpGatewayMutualTls(host);
    s.apply('http-gateway/istio-api/destination-rule.yaml');
    const result = await curl(s.world, s.client, {
      url: `http://${HOST}/b2-mismatch`,
      maxTimeSeconds: 5,
    });
    expect(result.status).toBe(503);
    expect(result.body).toContain('upstream connect error');
    expect(gatewayLog(s.world)).toEqual([]);
  });
});
