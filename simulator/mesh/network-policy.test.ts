import { beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject, SimExternalHost } from '../types.ts';
import { connectionAllowed, dnsAllowed } from './network-policy.ts';
import { egressPolicy, lockDownAndInject, networkPolicy } from './scenarios.ts';
import {
  MemoryView,
  curl,
  gatewayLog,
  gatewayStat,
  localHost,
  namespace,
  parseLogLine,
} from './testing.ts';

const HOST = 'network-policy.egress-conformance.test';
const NS = 'egress-b4';

let host: SimExternalHost;
beforeAll(() => {
  host = localHost(HOST, '203.0.113.30');
});

describe('B4 network-policy', () => {
  it('blocks the client without sidecar once the policy applies, and lets the sidecar out through the gateway', async () => {
    const { world, plain } = networkPolicy(host);
    const request = { url: `https://${HOST}/`, maxTimeSeconds: 3, insecure: true };
    expect((await curl(world, plain, request)).status).toBe(200);

    const injected = lockDownAndInject(world, host, NS);
    const started = Date.now();
    const blocked = await curl(world, plain, request);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(blocked.exitCode).toBe(28);
    expect(blocked.error).toMatch(/^Connection timed out after 300\d milliseconds$/);

    const counter = `cluster.outbound|443||${HOST}.upstream_cx_total`;
    const before = (await gatewayStat(world, counter)) ?? -1;
    const through = await curl(world, injected, request);
    expect(through.exitCode).toBe(0);
    expect(through.certificates[0]?.subject).toBe(`CN = ${HOST}`);
    expect(parseLogLine(gatewayLog(world)[0] ?? '')).toMatchObject({
      sni: HOST,
      upstreamCluster: `outbound|443||${HOST}`,
    });
    await curl(world, injected, request);
    expect(await gatewayStat(world, counter)).toBe(before + 2);
  });

  it('cuts the sidecar off istiod when istio-system is not labelled for the policy: no listeners, connections refused', async () => {
    const { world } = networkPolicy(host);
    const injected = lockDownAndInject(world, host, NS, { labelIstioSystem: false });
    const result = await curl(world, injected, {
      url: `https://${HOST}/`,
      maxTimeSeconds: 3,
      insecure: true,
    });
    expect(result.exitCode).toBe(7);
    expect(result.error).toMatch(
      /^Failed to connect to .* port 443 after \d+ ms: Could not connect to server$/,
    );
    expect(gatewayLog(world)).toEqual([]);
  });

  it('the same policy without the netpol-not-enforced fault is what cuts it off', async () => {
    const { world } = networkPolicy(host, { faults: ['netpol-not-enforced'] });
    const injected = lockDownAndInject(world, host, NS, { labelIstioSystem: false });
    const result = await curl(world, injected, {
      url: `https://${HOST}/`,
      maxTimeSeconds: 3,
      insecure: true,
    });
    expect(result.exitCode).toBe(0);
  });

  it('fails name resolution when the policy does not allow DNS', async () => {
    const { world, plain } = networkPolicy(host);
    world.view.apply(egressPolicy(NS, { allowDns: false }));
    const result = await curl(world, plain, {
      url: `https://${HOST}/`,
      maxTimeSeconds: 3,
      insecure: true,
    });
    expect(result.exitCode).toBe(6);
    expect(result.error).toBe(`Could not resolve host: ${HOST}`);
  });
});

describe('NetworkPolicy evaluation', () => {
  const pod = (ns: string, labels: Record<string, string> = {}, ip = '10.244.9.9'): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `p-${ns}`, namespace: ns, labels },
    spec: { containers: [{ name: 'c', ports: [{ name: 'web', containerPort: 8080 }] }] },
    status: { podIP: ip },
  });
  const policy = (ns: string, spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: `np-${Math.random()}`, namespace: ns },
    spec,
  });

  it('allows everything when no policy selects the pod', () => {
    const view = new MemoryView([namespace('a')]);
    expect(
      connectionAllowed(view, { kind: 'pod', pod: pod('a') }, { kind: 'ip', ip: '1.2.3.4' }, 443),
    ).toBe(true);
  });

  it('isolates egress only for selected pods and honours ports, protocols and ipBlock', () => {
    const view = new MemoryView([
      namespace('a'),
      policy('a', {
        podSelector: { matchLabels: { app: 'locked' } },
        policyTypes: ['Egress'],
        egress: [
          {
            to: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.99/32'] } }],
            ports: [{ port: 443 }],
          },
        ],
      }),
    ]);
    const locked = { kind: 'pod' as const, pod: pod('a', { app: 'locked' }) };
    const free = { kind: 'pod' as const, pod: pod('a', { app: 'free' }) };
    expect(connectionAllowed(view, locked, { kind: 'ip', ip: '203.0.113.5' }, 443)).toBe(true);
    expect(connectionAllowed(view, locked, { kind: 'ip', ip: '203.0.113.5' }, 80)).toBe(false);
    expect(connectionAllowed(view, locked, { kind: 'ip', ip: '203.0.113.99' }, 443)).toBe(false);
    expect(connectionAllowed(view, locked, { kind: 'ip', ip: '203.0.113.5' }, 443, 'UDP')).toBe(
      false,
    );
    expect(connectionAllowed(view, free, { kind: 'ip', ip: '198.51.100.1' }, 80)).toBe(true);
  });

  it('treats a policy without policyTypes as egress only when it has egress rules', () => {
    const view = new MemoryView([namespace('a'), policy('a', { podSelector: {}, ingress: [] })]);
    expect(
      connectionAllowed(view, { kind: 'pod', pod: pod('a') }, { kind: 'ip', ip: '1.1.1.1' }, 80),
    ).toBe(true);
    view.apply(policy('a', { podSelector: {}, egress: [] }));
    expect(
      connectionAllowed(view, { kind: 'pod', pod: pod('a') }, { kind: 'ip', ip: '1.1.1.1' }, 80),
    ).toBe(false);
  });

  it('matches namespaceSelector expressions and podSelector within the namespace, and named ports', () => {
    const view = new MemoryView([
      namespace('a'),
      namespace('b', { team: 'x' }),
      policy('a', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [
              {
                namespaceSelector: {
                  matchExpressions: [{ key: 'team', operator: 'In', values: ['x'] }],
                },
                podSelector: { matchLabels: { role: 'db' } },
              },
            ],
          },
          { to: [{ podSelector: { matchLabels: { role: 'web' } } }], ports: [{ port: 'web' }] },
        ],
      }),
    ]);
    const from = { kind: 'pod' as const, pod: pod('a') };
    expect(
      connectionAllowed(view, from, { kind: 'pod', pod: pod('b', { role: 'db' }) }, 5432),
    ).toBe(true);
    expect(
      connectionAllowed(view, from, { kind: 'pod', pod: pod('b', { role: 'web' }) }, 8080),
    ).toBe(false);
    expect(
      connectionAllowed(view, from, { kind: 'pod', pod: pod('a', { role: 'web' }) }, 8080),
    ).toBe(true);
    expect(
      connectionAllowed(view, from, { kind: 'pod', pod: pod('a', { role: 'web' }) }, 9090),
    ).toBe(false);
  });

  it('applies ingress policies at the destination pod', () => {
    const view = new MemoryView([
      namespace('a'),
      namespace('b'),
      policy('b', {
        podSelector: {},
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'c' } } }],
          },
        ],
      }),
    ]);
    expect(
      connectionAllowed(view, { kind: 'pod', pod: pod('a') }, { kind: 'pod', pod: pod('b') }, 80),
    ).toBe(false);
  });

  it('needs UDP 53 to kube-system for DNS, with CoreDNS implicit', () => {
    const view = new MemoryView([
      namespace('a'),
      namespace('kube-system', { 'kube-system': 'true' }),
      policy('a', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [{ namespaceSelector: { matchLabels: { 'kube-system': 'true' } } }],
            ports: [{ protocol: 'UDP', port: 53 }],
          },
        ],
      }),
    ]);
    expect(dnsAllowed(view, pod('a'))).toBe(true);
    view.patch('Namespace', undefined, 'kube-system', (ns) => {
      ns.metadata.labels = {};
    });
    expect(dnsAllowed(view, pod('a'))).toBe(false);
  });
});
