/**
 * Probe pods in the simulated cluster: a container running `curl --rate R … URL[a-b]` sends
 * one transfer per number through the exec handler (the mesh model), no faster than R, with
 * `$(POD_NAME)` expanded, writes what curl prints to its log, and stops when the pod goes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ObjectStore } from './store/object-store.ts';
import { curlLoopOf, startProcesses } from './processes.ts';
import type { ExecHandler, ExecRequest, KubeObject } from './types.ts';
import { pollUntil } from '../harness/wait.ts';

function probePod(phase: string, rate = '600/m'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'egress-probe-abc', namespace: 'probe', uid: 'uid-1' },
    spec: {
      containers: [
        {
          name: 'curl',
          command: [
            'curl',
            '-sS',
            '-o',
            '/dev/null',
            '-w',
            'egress-probe %{url_effective} %{http_code} %{exitcode}\\n',
            '--rate',
            rate,
            'http://host.test/probe/$(POD_NAME)/[1-5]',
          ],
          env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        },
      ],
    },
    status: { phase },
  };
}

let stop: (() => void) | undefined;
afterEach(() => stop?.());

describe('curl loops of probe pods', () => {
  it('reads the command: the interval from --rate, the URL glob with $(POD_NAME) expanded', () => {
    expect(curlLoopOf(probePod('Running'))).toMatchObject({
      container: 'curl',
      intervalMs: 100,
      url: { before: 'http://host.test/probe/egress-probe-abc/', after: '', first: 1, last: 5 },
    });
    expect(curlLoopOf(probePod('Running', '2/s'))?.intervalMs).toBe(500);
    // Without --rate or a glob it is an ordinary command, not a loop.
    const plain = probePod('Running');
    (plain.spec as { containers: { command: string[] }[] }).containers[0]!.command = [
      'curl',
      'http://host.test/',
    ];
    expect(curlLoopOf(plain)).toBeUndefined();
  });

  it('sends each numbered transfer through the exec handler once the pod runs, and logs the output', async () => {
    const store = new ObjectStore();
    const requests: ExecRequest[] = [];
    const handler: ExecHandler = {
      exec(request) {
        requests.push(request);
        const url = request.command.at(-1) ?? '';
        return Promise.resolve({ stdout: `egress-probe ${url} 200 0\n`, stderr: '', exitCode: 0 });
      },
    };
    stop = startProcesses(store, handler);
    store.create(probePod('Pending'));
    expect(requests).toHaveLength(0);
    const started = Date.now();
    store.modify('Pod', 'probe', 'egress-probe-abc', (draft) => {
      draft.status = { phase: 'Running' };
    });
    await pollUntil({
      what: 'five transfers',
      timeoutMs: 5_000,
      intervalMs: 20,
      observe: () => Promise.resolve(requests.length),
      done: (count) => count === 5,
      hint: 'simulator/processes.ts',
    });
    // --rate 600/m: a transfer every 100 ms at most.
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
    expect(requests.map((request) => request.command.at(-1))).toEqual(
      [1, 2, 3, 4, 5].map((n) => `http://host.test/probe/egress-probe-abc/${n}`),
    );
    expect(requests[0]?.command).toContain('-w');
    expect(store.logs.read('probe', 'egress-probe-abc', 'curl').map((e) => e.text)).toEqual(
      [1, 2, 3, 4, 5].map((n) => `egress-probe http://host.test/probe/egress-probe-abc/${n} 200 0`),
    );
  });

  it('stops sending when the pod is deleted', async () => {
    const store = new ObjectStore();
    let count = 0;
    stop = startProcesses(store, {
      exec: () => {
        count += 1;
        return Promise.resolve({ stdout: '', stderr: '', exitCode: 0 });
      },
    });
    store.create(probePod('Running', '60/s'));
    await pollUntil({
      what: 'a first transfer',
      timeoutMs: 5_000,
      intervalMs: 10,
      observe: () => Promise.resolve(count),
      done: (value) => value >= 1,
      hint: 'simulator/processes.ts',
    });
    store.delete('Pod', 'probe', 'egress-probe-abc');
    const after = count;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(count).toBeLessThanOrEqual(after + 1);
  });

  it('runs one loop per looping container, whose connection lives as long as its gateway pod and the drain after it', async () => {
    const store = new ObjectStore();
    const gateway = store.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'istio-egressgateway-abc', namespace: 'istio-system' },
      spec: { containers: [{ name: 'istio-proxy' }] },
      status: { phase: 'Running' },
    });
    // A stand-in for the mesh model: each transfer reuses the open connection if the cache
    // keeps it, else opens one through the gateway pod above.
    const seen: { container: string; id: number; at: number }[] = [];
    const handler: ExecHandler = {
      exec(request) {
        const connections = request.connections;
        if (!connections) throw new Error('a curl loop passes its connection cache');
        let open = connections.reusable('k');
        if (!open) {
          connections.opening();
          connections.noteGateway(gateway);
          open = {
            id: connections.nextId(),
            key: 'k',
            localPort: 1,
            opaque: true,
            path: connections.trace,
          };
          connections.keep(open);
        }
        seen.push({ container: request.container, id: open.id, at: Date.now() });
        return Promise.resolve({ stdout: '', stderr: '', exitCode: 0 });
      },
    };
    const drainMs = 300;
    stop = startProcesses(store, handler, { terminationDrainMs: drainMs });
    const pod = probePod('Running', '20/s');
    const containers = (pod.spec as { containers: { name: string; command: string[] }[] })
      .containers;
    const [curl] = containers;
    if (!curl) throw new Error('no container');
    curl.command = curl.command.map((part) => part.replace('[1-5]', '[1-1000]'));
    containers.push({ ...curl, name: 'conn' });
    store.create(pod);
    const observe = (): Promise<number> => Promise.resolve(seen.length);
    await pollUntil({
      what: 'transfers of both loops',
      timeoutMs: 5_000,
      intervalMs: 10,
      observe,
      done: (n) => n >= 4,
      hint: 'simulator/processes.ts',
    });
    expect(new Set(seen.map((entry) => entry.container))).toEqual(new Set(['curl', 'conn']));
    expect(new Set(seen.map((entry) => entry.id))).toEqual(new Set([0]));
    const deleted = Date.now();
    store.delete('Pod', 'istio-system', gateway.metadata.name);
    await pollUntil({
      what: 'a new connection after the drain',
      timeoutMs: 5_000,
      intervalMs: 10,
      observe: () => Promise.resolve(seen.filter((entry) => entry.id === 1)),
      done: (entries) => entries.length >= 2,
      hint: 'simulator/processes.ts',
    });
    // Until the drain passed, every transfer stayed on the first connection.
    const reconnected = Math.min(
      ...seen.filter((entry) => entry.id === 1).map((entry) => entry.at),
    );
    expect(reconnected - deleted).toBeGreaterThanOrEqual(drainMs - 20);
    expect(
      seen.filter((entry) => entry.at < deleted + drainMs - 20).every((entry) => entry.id === 0),
    ).toBe(true);
  });
});
