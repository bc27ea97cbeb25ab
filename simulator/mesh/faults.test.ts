import { beforeAll, describe, expect, it } from 'vitest';
import type { FaultName, SimExternalHost } from '../types.ts';
import { FAULT_NAMES } from '../types.ts';
import { FAULT_EFFECTS } from './faults.ts';
import {
  drLookup,
  httpGateway,
  httpGatewayMutualTls,
  lockDownAndInject,
  networkPolicy,
  passthrough,
  registryOnly,
} from './scenarios.ts';
import { identityFromConfigDump } from '../../harness/envoy/identity.ts';
import { OLD_PROXY_THROUGH_NEW_GATEWAY_FAILURE } from '../../harness/facts/upgrade.ts';
import {
  GATEWAY_HOST,
  GATEWAY_NAMESPACE,
  GATEWAY_POD,
  curl,
  exec,
  gatewayLog,
  gatewayStat,
  localHost,
  parseLogLine,
} from './testing.ts';

type Behaviour = 'B1' | 'B2' | 'B3' | 'B4' | 'B5' | 'B7';

let host: SimExternalHost;
let other: SimExternalHost;
beforeAll(() => {
  host = localHost('faults.egress-conformance.test', '203.0.113.60');
  other = localHost('elsewhere.egress-conformance.test', '203.0.113.61');
});

/** Whether the evidence of each behaviour, as behaviours.md states it, holds under the faults. */
const EVIDENCE: Record<Behaviour, (faults: FaultName[]) => Promise<boolean>> = {
  async B1(faults) {
    const { world, client } = httpGateway(host, { faults });
    const ok = await curl(world, client, {
      url: `http://${host.name}/b1-evidence`,
      maxTimeSeconds: 5,
    });
    const entry = gatewayLog(world)
      .map(parseLogLine)
      .find((line) => line?.path === '/b1-evidence');
    await curl(world, client, { url: `https://${host.name}/`, maxTimeSeconds: 5, insecure: true });
    const tlsEntries = gatewayLog(world).filter((line) => line.includes('"- - -"'));
    return (
      ok.headers['x-egress-conformance-host'] === host.name &&
      entry?.upstreamCluster === `outbound|80||${host.name}` &&
      entry.authority === host.name &&
      tlsEntries.length === 0
    );
  },
  async B2(faults) {
    const { world, client, plain } = httpGatewayMutualTls(host, { faults });
    const ok = await curl(world, client, {
      url: `http://${host.name}/b2-evidence`,
      maxTimeSeconds: 5,
    });
    const entry = gatewayLog(world)
      .map(parseLogLine)
      .find((line) => line?.path === '/b2-evidence');
    const refused = await curl(world, plain, {
      url: `http://${GATEWAY_HOST}:443/b2-plain`,
      maxTimeSeconds: 5,
      headers: { Host: host.name },
    });
    // The page's troubleshooting step: the gateway's certificate names its service account.
    const gateway = world.view.get('Pod', GATEWAY_NAMESPACE, GATEWAY_POD);
    if (!gateway) throw new Error('no gateway pod');
    const dump = await exec(world, gateway, 'istio-proxy', [
      'pilot-agent',
      'request',
      'GET',
      'config_dump',
    ]);
    return (
      ok.headers['x-egress-conformance-host'] === host.name &&
      entry?.upstreamCluster === `outbound|80||${host.name}` &&
      refused.headers['x-egress-conformance-host'] === undefined &&
      identityFromConfigDump(dump.stdout)?.uris[0] ===
        'spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account'
    );
  },
  async B3(faults) {
    const { world, client, plain } = passthrough(host, { faults, extraHosts: [other] });
    const ok = await curl(world, client, {
      url: `https://${host.name}/`,
      maxTimeSeconds: 5,
      insecure: true,
    });
    const entry = gatewayLog(world)
      .map(parseLogLine)
      .find((line) => line?.sni === host.name);
    // Another SNI sent to the gateway must not reach the host.
    // As the suite probes it: another SNI offered straight to the gateway with --connect-to.
    const strayName = `other-sni.${host.name}`;
    const stray = await curl(world, plain, {
      url: `https://${strayName}/`,
      maxTimeSeconds: 5,
      insecure: true,
      connectTo: [`${strayName}:443:${GATEWAY_HOST}:443`],
    });
    return (
      ok.certificates[0]?.subject === `CN = ${host.name}` &&
      entry?.upstreamCluster === `outbound|443||${host.name}` &&
      stray.headers['x-egress-conformance-host'] !== host.name
    );
  },
  async B4(faults) {
    const { world, plain, namespace } = networkPolicy(host, { faults });
    const request = { url: `https://${host.name}/`, maxTimeSeconds: 3, insecure: true };
    const baseline = await curl(world, plain, request);
    const injected = lockDownAndInject(world, host, namespace);
    const blocked = await curl(world, plain, request);
    const counter = `cluster.outbound|443||${host.name}.upstream_cx_total`;
    const before = (await gatewayStat(world, counter)) ?? 0;
    const through = await curl(world, injected, request);
    const after = (await gatewayStat(world, counter)) ?? 0;
    const entry = gatewayLog(world)
      .map(parseLogLine)
      .find((line) => line?.sni === host.name);
    return (
      baseline.status === 200 &&
      blocked.exitCode !== 0 &&
      through.status === 200 &&
      entry !== undefined &&
      after > before
    );
  },
  async B7(faults) {
    const { world, client, register } = registryOnly(host, { faults });
    const blocked = await curl(world, client, { url: `http://${host.name}/b7`, maxTimeSeconds: 5 });
    const reset = await curl(world, client, {
      url: `https://${host.name}/`,
      maxTimeSeconds: 5,
      insecure: true,
    });
    register();
    const through = await curl(world, client, {
      url: `http://${host.name}/b7-se`,
      maxTimeSeconds: 5,
    });
    const entry = gatewayLog(world)
      .map(parseLogLine)
      .find((line) => line?.path === '/b7-se');
    return (
      blocked.status === 502 &&
      reset.exitCode !== 0 &&
      through.headers['x-egress-conformance-host'] === host.name &&
      entry?.upstreamCluster === `outbound|80||${host.name}`
    );
  },
  async B5(faults) {
    const { world, client, clientNamespace, applyRuleIn } = drLookup(host, { faults });
    const missing = await curl(world, client, { url: `http://${host.name}/b5`, maxTimeSeconds: 5 });
    applyRuleIn(clientNamespace);
    const found = await curl(world, client, { url: `http://${host.name}/b5`, maxTimeSeconds: 5 });
    return (
      missing.headers['x-egress-conformance-host'] === undefined &&
      found.headers['x-egress-conformance-host'] === host.name
    );
  },
};

/** Which behaviours each fault breaks; the table's "must fail" plus what inevitably goes with it. */
const BREAKS: Record<FaultName | 'none', Behaviour[]> = {
  none: [],
  // Everything that depends on traffic reaching the gateway.
  'gateway-bypass': ['B1', 'B2', 'B3', 'B4', 'B5', 'B7'],
  // Every behaviour whose evidence is a gateway log entry.
  'no-gateway-log': ['B1', 'B2', 'B3', 'B4', 'B7'],
  // B2, B5 and B7 also have the gateway forward HTTP to port 80.
  'wrong-upstream': ['B1', 'B2', 'B5', 'B7'],
  'tls-terminated': ['B3'],
  'sni-ignored': ['B3'],
  'plaintext-accepted': ['B2'],
  'netpol-not-enforced': ['B4'],
  'counters-frozen': ['B4'],
  'dr-lookup-ignored': ['B5'],
  'slow-propagation': [],
  // Both act only when versions change: a run on one version keeps every behaviour.
  'upgrade-drops-traffic': [],
  'skew-breaks-old-proxies': [],
  // Gateway API faults: the Istio-API form these checks use is unaffected (the end-to-end
  // matrix proves what they break in the gateway-api variant).
  'gateway-not-programmed': [],
  'hostname-backend-ignored': [],
  'registry-only-ignored': ['B7'],
  'wrong-gateway-identity': ['B2'],
};

describe('faults', () => {
  it('documents where every fault acts', () => {
    expect(Object.keys(FAULT_EFFECTS).sort()).toEqual([...FAULT_NAMES].sort());
  });

  for (const fault of ['none', ...FAULT_NAMES] as const) {
    it(`${fault}: breaks ${BREAKS[fault].join(', ') || 'nothing'} and leaves the rest green`, async () => {
      const faults = fault === 'none' ? [] : [fault];
      const outcome: Record<string, boolean> = {};
      for (const behaviour of Object.keys(EVIDENCE) as Behaviour[])
        outcome[behaviour] = await EVIDENCE[behaviour](faults);
      const expected = Object.fromEntries(
        (Object.keys(EVIDENCE) as Behaviour[]).map((behaviour) => [
          behaviour,
          !BREAKS[fault].includes(behaviour),
        ]),
      );
      expect(outcome).toEqual(expected);
    });
  }
});

describe('fault evidence, in detail', () => {
  it('skew-breaks-old-proxies: an older sidecar through the newer gateway gets 503 with the router flags of istio/istio#22842', async () => {
    const { world, client, namespace } = httpGateway(host, { faults: ['skew-breaks-old-proxies'] });
    const entryFor = (path: string) =>
      world.logs
        .of(namespace, client.metadata.name)
        .map(parseLogLine)
        .find((line) => line?.path === path);
    // Control: a sidecar of the gateway's own version goes through.
    expect(
      (await curl(world, client, { url: `http://${host.name}/same`, maxTimeSeconds: 5 })).status,
    ).toBe(200);
    const old = structuredClone(client);
    const containers = old.spec?.containers as { name: string; image?: string }[];
    const proxy = containers.find((container) => container.name === 'istio-proxy');
    if (proxy) proxy.image = 'docker.io/istio/proxyv2:1.30.5';
    world.view.apply(old);
    const result = await curl(world, old, { url: `http://${host.name}/skew`, maxTimeSeconds: 5 });
    expect(result.status).toBe(OLD_PROXY_THROUGH_NEW_GATEWAY_FAILURE.httpStatus);
    expect(entryFor('/skew')).toMatchObject({
      code: OLD_PROXY_THROUGH_NEW_GATEWAY_FAILURE.httpStatus,
      flags: OLD_PROXY_THROUGH_NEW_GATEWAY_FAILURE.responseFlags,
    });
    expect(entryFor('/same')?.flags).toBe('-');
  });

  it('gateway-bypass: the sidecar goes straight to the host; the gateway sees nothing', async () => {
    const { world, client, namespace } = httpGateway(host, { faults: ['gateway-bypass'] });
    const result = await curl(world, client, {
      url: `http://${host.name}/bypass`,
      maxTimeSeconds: 5,
    });
    expect(result.status).toBe(200);
    expect(gatewayLog(world)).toEqual([]);
    expect(
      parseLogLine(world.logs.of(namespace, client.metadata.name)[0] ?? '')?.upstreamCluster,
    ).toBe(`outbound|80||${host.name}`);
  });

  it('wrong-upstream: the gateway sends port-80 HTTP to 443 and the host drops it', async () => {
    const { world, client } = httpGateway(host, { faults: ['wrong-upstream'] });
    const result = await curl(world, client, {
      url: `http://${host.name}/wrong`,
      maxTimeSeconds: 5,
    });
    expect(result.status).toBe(503);
    expect(result.headers['x-egress-conformance-host']).toBeUndefined();
    expect(parseLogLine(gatewayLog(world)[0] ?? '')).toMatchObject({
      code: 503,
      flags: 'UC',
      upstreamCluster: `outbound|443||${host.name}`,
      upstreamHost: '203.0.113.60:443',
    });
  });

  it("tls-terminated: the client sees the gateway's Istio certificate, not the host's", async () => {
    const { world, client } = passthrough(host, { faults: ['tls-terminated'] });
    const result = await curl(world, client, {
      url: `https://${host.name}/`,
      maxTimeSeconds: 5,
      insecure: true,
    });
    expect(result.status).toBe(200);
    expect(result.certificates[0]).toMatchObject({ subject: '', issuer: 'O = cluster.local' });
    expect(result.writeOut.certs).toContain(
      'URI:spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account',
    );
    const strict = await curl(world, client, { url: `https://${host.name}/`, maxTimeSeconds: 5 });
    expect(strict.exitCode).toBe(60);
    expect(strict.error).toBe(
      'SSL certificate problem: self-signed certificate in certificate chain',
    );
  });

  it("sni-ignored: a connection with an unrelated SNI still reaches the gateway's only host", async () => {
    const { world, plain } = passthrough(host, { faults: ['sni-ignored'], extraHosts: [other] });
    const result = await curl(world, plain, {
      url: `https://${other.name}/`,
      maxTimeSeconds: 5,
      insecure: true,
      resolve: [`${other.name}:443:10.96.0.50`],
    });
    expect(result.status).toBe(200);
    expect(result.certificates[0]?.subject).toBe(`CN = ${host.name}`);
    expect(parseLogLine(gatewayLog(world)[0] ?? '')).toMatchObject({
      sni: other.name,
      upstreamCluster: `outbound|443||${host.name}`,
    });
  });

  it('plaintext-accepted: the ISTIO_MUTUAL server answers plain HTTP', async () => {
    const { world, plain } = httpGatewayMutualTls(host, { faults: ['plaintext-accepted'] });
    const result = await curl(world, plain, {
      url: `http://${GATEWAY_HOST}:443/plain`,
      maxTimeSeconds: 5,
      headers: { Host: host.name },
    });
    expect(result.status).toBe(200);
    expect(result.headers['x-egress-conformance-host']).toBe(host.name);
  });

  it('counters-frozen: stats and Istio metrics of the gateway stay put', async () => {
    const { world, client } = passthrough(host, { faults: ['counters-frozen'] });
    await curl(world, client, { url: `https://${host.name}/`, maxTimeSeconds: 5, insecure: true });
    expect(await gatewayStat(world, `cluster.outbound|443||${host.name}.upstream_cx_total`)).toBe(
      0,
    );
    const gateway = world.view.list('Pod', 'istio-system')[0];
    if (!gateway) throw new Error('no gateway');
    const metrics = await exec(world, gateway, 'istio-proxy', [
      'pilot-agent',
      'request',
      'GET',
      'stats/prometheus',
    ]);
    expect(metrics.stdout).not.toContain('istio_tcp_connections_opened_total');
  });

  it('netpol-not-enforced: the client without sidecar still gets out', async () => {
    const { world, plain, namespace } = networkPolicy(host, { faults: ['netpol-not-enforced'] });
    lockDownAndInject(world, host, namespace);
    const result = await curl(world, plain, {
      url: `https://${host.name}/`,
      maxTimeSeconds: 3,
      insecure: true,
    });
    expect(result.status).toBe(200);
  });
});
