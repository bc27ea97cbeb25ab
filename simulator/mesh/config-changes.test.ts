import { beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject, SimExternalHost } from '../types.ts';
import { httpGateway, passthrough, scenario } from './scenarios.ts';
import {
  CNN,
  DEFAULT_MESH,
  GATEWAY_NAMESPACE,
  GATEWAY_POD,
  curl,
  exec,
  gatewayLog,
  gatewayStat,
  localHost,
  meshConfigMap,
  parseLogLine,
} from './testing.ts';

const HOST = 'changes.egress-conformance.test';
const GATEWAY_HOST_FQDN = 'istio-egressgateway.istio-system.svc.cluster.local';

let host: SimExternalHost;
let unregistered: SimExternalHost;
beforeAll(() => {
  host = localHost(HOST, '203.0.113.70');
  unregistered = localHost('unregistered.egress-conformance.test', '203.0.113.71');
});

function edit(
  objects: KubeObject[],
  kind: string,
  change: (spec: Record<string, unknown>) => void,
): void {
  const obj = objects.find((candidate) => candidate.kind === kind);
  if (!obj?.spec) throw new Error(`no ${kind}`);
  change(obj.spec);
}

describe('configuration drives the outcome', () => {
  it('dropping mesh from the VirtualService gateways sends traffic straight out', async () => {
    const s = httpGateway(host);
    s.world.view.patch('VirtualService', s.namespace, s.values.name ?? '', (vs) => {
      edit([vs], 'VirtualService', (spec) => {
        spec.gateways = [s.values.name];
      });
    });
    const result = await curl(s.world, s.client, {
      url: `http://${HOST}/no-mesh`,
      maxTimeSeconds: 5,
    });
    expect(result.status).toBe(200);
    expect(gatewayLog(s.world)).toEqual([]);
  });

  it('renaming the subset in the DestinationRule makes the route point at a missing cluster', async () => {
    const s = httpGateway(host);
    s.world.view.patch('DestinationRule', s.namespace, s.values.name ?? '', (dr) => {
      edit([dr], 'DestinationRule', (spec) => {
        spec.subsets = [{ name: 'renamed' }];
      });
    });
    const result = await curl(s.world, s.client, {
      url: `http://${HOST}/renamed`,
      maxTimeSeconds: 5,
    });
    expect(result.status).toBe(503);
    expect(
      parseLogLine(s.world.logs.of(s.namespace, s.client.metadata.name)[0] ?? ''),
    ).toMatchObject({
      flags: 'NC',
      details: 'cluster_not_found',
    });
  });

  it('a Gateway selecting no pod leaves the gateway without a listener', async () => {
    const s = httpGateway(host);
    s.world.view.patch('Gateway', s.namespace, s.values.name ?? '', (gw) => {
      edit([gw], 'Gateway', (spec) => {
        spec.selector = { istio: 'ingressgateway' };
      });
    });
    const result = await curl(s.world, s.client, {
      url: `http://${HOST}/no-listener`,
      maxTimeSeconds: 5,
    });
    expect(result.status).toBe(503);
    expect(result.body).toContain('Connection refused');
    expect(gatewayLog(s.world)).toEqual([]);
    const gateway = s.world.view.get('Pod', GATEWAY_NAMESPACE, GATEWAY_POD) as KubeObject;
    const listeners = await exec(s.world, gateway, 'istio-proxy', [
      'pilot-agent',
      'request',
      'GET',
      'listeners',
    ]);
    expect(listeners.stdout).not.toContain('8080');
  });

  it('a Gateway server for another host answers 404 NR at the gateway', async () => {
    const s = httpGateway(host);
    s.world.view.patch('Gateway', s.namespace, s.values.name ?? '', (gw) => {
      edit([gw], 'Gateway', (spec) => {
        spec.servers = [
          { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['someone-else.example'] },
        ];
      });
    });
    const result = await curl(s.world, s.client, {
      url: `http://${HOST}/other-host`,
      maxTimeSeconds: 5,
    });
    expect(result.status).toBe(404);
    expect(parseLogLine(gatewayLog(s.world)[0] ?? '')).toMatchObject({
      code: 404,
      flags: 'NR',
      details: 'route_not_found',
    });
  });

  it('SIMPLE instead of PASSTHROUGH fails the handshake (no credentials) and forwards nothing', async () => {
    const s = passthrough(host);
    s.world.view.patch('Gateway', s.namespace, s.values.name ?? '', (gw) => {
      edit([gw], 'Gateway', (spec) => {
        spec.servers = [
          {
            port: { number: 443, name: 'tls', protocol: 'TLS' },
            hosts: [HOST],
            tls: { mode: 'SIMPLE' },
          },
        ];
      });
    });
    const result = await curl(s.world, s.client, {
      url: `https://${HOST}/`,
      maxTimeSeconds: 5,
      insecure: true,
    });
    expect(result.exitCode).toBe(35);
    expect(gatewayLog(s.world)).toEqual([]);
  });

  it('a sidecar VirtualService whose routes do not match the port answers 404 NR', async () => {
    const s = httpGateway(host);
    s.world.view.patch('VirtualService', s.namespace, s.values.name ?? '', (vs) => {
      edit([vs], 'VirtualService', (spec) => {
        spec.http = [
          { match: [{ gateways: ['mesh'], port: 8080 }], route: [{ destination: { host: HOST } }] },
        ];
      });
    });
    const result = await curl(s.world, s.client, {
      url: `http://${HOST}/no-route`,
      maxTimeSeconds: 5,
    });
    expect(result.status).toBe(404);
  });

  it('REGISTRY_ONLY blocks hosts without ServiceEntry (502 block_all); ALLOW_ANY passes them through', async () => {
    const s = httpGateway(host);
    s.world.hosts.push(unregistered);
    const allowed = await curl(s.world, s.client, {
      url: `http://${unregistered.name}/`,
      maxTimeSeconds: 5,
    });
    expect(allowed.status).toBe(200);
    expect(
      parseLogLine(s.world.logs.of(s.namespace, s.client.metadata.name).at(-1) ?? ''),
    ).toMatchObject({
      upstreamCluster: 'PassthroughCluster',
      routeName: 'allow_any',
    });
    s.world.view.apply(
      meshConfigMap({ ...DEFAULT_MESH, outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } }),
    );
    const blocked = await curl(s.world, s.client, {
      url: `http://${unregistered.name}/`,
      maxTimeSeconds: 5,
    });
    expect(blocked.status).toBe(502);
    expect(
      parseLogLine(s.world.logs.of(s.namespace, s.client.metadata.name).at(-1) ?? ''),
    ).toMatchObject({
      details: 'direct_response',
      routeName: 'block_all',
    });
    const tls = await curl(s.world, s.client, {
      url: `https://${unregistered.name}/`,
      maxTimeSeconds: 5,
      insecure: true,
    });
    expect(tls.exitCode).toBe(35);
    const registered = await curl(s.world, s.client, {
      url: `http://${HOST}/still-works`,
      maxTimeSeconds: 5,
    });
    expect(registered.status).toBe(200);
  });

  it('edition.cnn.com (internet mode) answers 301 to https through the gateway, then 200 on /politics', async () => {
    const s = scenario({ host: CNN, namespace: 'egress-cnn' });
    for (const file of ['service-entry', 'gateway', 'destination-rule', 'virtual-service'])
      s.apply(`http-gateway/istio-api/${file}.yaml`);
    const redirect = await curl(s.world, s.client, {
      url: 'http://edition.cnn.com/politics',
      maxTimeSeconds: 5,
    });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('https://edition.cnn.com/politics');
    expect(gatewayLog(s.world)[0]).toContain('"GET /politics HTTP/2" 301 - via_upstream');
    const followed = await curl(s.world, s.client, {
      url: 'https://edition.cnn.com/politics',
      maxTimeSeconds: 5,
    });
    expect(followed.exitCode).toBe(0);
    expect(followed.status).toBe(200);
    expect(followed.writeOut.http_version).toBe('2');
    const raw = await exec(s.world, s.client, 'curl', [
      'curl',
      '-sSL',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code} %{num_redirects} %{url_effective}',
      'http://edition.cnn.com/politics',
    ]);
    expect(raw.stdout).toBe('200 1 https://edition.cnn.com/politics');
  });

  it('nothing else resolves', async () => {
    const s = httpGateway(host);
    const result = await curl(s.world, s.client, {
      url: 'http://nowhere.example/',
      maxTimeSeconds: 5,
    });
    expect(result.exitCode).toBe(6);
    expect(result.raw.stderr).toBe('curl: (6) Could not resolve host: nowhere.example\n');
  });

  it('keeps cluster.outbound stats only when the stats matcher includes them (mesh config or pod annotation)', async () => {
    const s = passthrough(host);
    const counter = `cluster.outbound|443||${HOST}.upstream_cx_total`;
    s.world.view.apply(meshConfigMap({ accessLogFile: '/dev/stdout' }));
    await curl(s.world, s.client, { url: `https://${HOST}/`, maxTimeSeconds: 5, insecure: true });
    expect(await gatewayStat(s.world, counter)).toBeUndefined();
    s.world.view.patch('Pod', GATEWAY_NAMESPACE, GATEWAY_POD, (pod) => {
      pod.metadata.annotations = {
        'proxy.istio.io/config': 'proxyStatsMatcher:\n  inclusionPrefixes:\n  - cluster.outbound\n',
      };
    });
    expect(await gatewayStat(s.world, counter)).toBe(1);
  });

  it('TLS sent to an HTTP port meets the HTTP codec: 400 DPE, and curl reports a wrong version number', async () => {
    const s = httpGateway(host);
    const viaSidecar = await curl(s.world, s.client, {
      url: `https://${HOST}:80/`,
      maxTimeSeconds: 5,
      insecure: true,
    });
    expect(viaSidecar.exitCode).toBe(35);
    expect(viaSidecar.error).toBe(
      'OpenSSL/3.3.2: error:0A00010B:SSL routines::wrong version number',
    );
    const atGateway = await curl(s.world, s.plain, {
      url: `https://${HOST}/`,
      maxTimeSeconds: 5,
      insecure: true,
      resolve: [`${HOST}:443:10.96.0.50`],
    });
    // The B1 Gateway has no server on 443: no listener, connection refused.
    expect(atGateway.exitCode).toBe(7);
    const onPort80 = await curl(s.world, s.plain, {
      url: `https://${HOST}:80/`,
      maxTimeSeconds: 5,
      insecure: true,
      resolve: [`${HOST}:80:10.96.0.50`],
    });
    expect(onPort80.exitCode).toBe(35);
    expect(parseLogLine(gatewayLog(s.world).at(-1) ?? '')).toMatchObject({
      method: '-',
      code: 400,
      flags: 'DPE',
    });
  });

  it('a client without sidecar can use the plain-HTTP gateway server directly with a Host header', async () => {
    const s = httpGateway(host);
    const result = await curl(s.world, s.plain, {
      url: `http://${GATEWAY_HOST_FQDN}/direct`,
      maxTimeSeconds: 5,
      headers: { Host: HOST },
    });
    expect(result.headers['x-egress-conformance-host']).toBe(HOST);
    expect(parseLogLine(gatewayLog(s.world)[0] ?? '')).toMatchObject({
      path: '/direct',
      protocol: 'HTTP/1.1',
      upstreamCluster: `outbound|80||${HOST}`,
    });
  });
});
