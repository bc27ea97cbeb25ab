/**
 * The borrowed-labels lock (harness/label-lock.ts) against the simulated API server: the
 * server's optimistic concurrency that the lock stands on, holders taking turns with no
 * check-then-set window, the holder named while others wait, a stale lock taken over with
 * the stale holder's labels put back, and a live holder never taken over.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { PatchStrategy, type V1Namespace } from '@kubernetes/client-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulatedCluster, type SimulatedCluster } from '../../simulator/cluster.ts';
import { apiFailure, connect, type Kube } from '../../harness/k8s/client.ts';
import {
  LabelLocks,
  lockRecordOf,
  restoreLocksOfRun,
  type LabelLocksOptions,
} from '../../harness/label-lock.ts';
import { OPTIMISTIC_CONCURRENCY } from '../../harness/facts/kube-api.ts';
import { WaitInterruptedError, interruptibleBy, pollUntil } from '../../harness/wait.ts';

const NAMESPACE = 'kube-system';

let dir: string;
let cluster: SimulatedCluster;
let kube: Kube;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egc-label-lock-'));
  cluster = await startSimulatedCluster({
    options: { faults: new Set(), propagationMs: 0, propagationJitterMs: 0, podStartMs: 0 },
    createExecHandler: () => ({
      exec: () => Promise.resolve({ stdout: '', stderr: '', exitCode: 0 }),
    }),
    dir,
  });
  kube = connect({ kubeconfigPath: cluster.kubeconfigPath });
});

afterAll(async () => {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
});

async function read(): Promise<V1Namespace> {
  return kube.core.readNamespace({ name: NAMESPACE });
}

function mergePatch(metadata: Record<string, unknown>): Promise<unknown> {
  return kube.objects.patch(
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE, ...metadata } } as never,
    undefined,
    undefined,
    undefined,
    undefined,
    PatchStrategy.MergePatch,
  );
}

// The namespace starts each test with one label the run will change and none it will add.
beforeEach(async () => {
  await mergePatch({
    labels: { 'kube-system': 'original', istio: null },
    annotations: {
      'egress-conformance.io/labels-borrowed-by': null,
      'egress-conformance.io/labels-lock': null,
    },
  });
});

function locks(
  run: string,
  timeouts: Partial<LabelLocksOptions['timeouts']> = {},
  lines: string[] = [],
  client: Kube = kube,
): LabelLocks {
  return new LabelLocks({
    kube: client,
    identity: { run, owner: `${run}/network-policy/mtls-disabled-istio-api` },
    timeouts: {
      sharedNamespaceLock: 20_000,
      sharedNamespaceLockStale: 60_000,
      pollInterval: 20,
      ...timeouts,
    },
    log: (line) => lines.push(line),
  });
}

const BORROWED = { 'kube-system': 'true', istio: 'system' };

/**
 * Clients whose first read of the namespace is answered only once all of them have read it:
 * every borrower then decides from the same resourceVersion before any of them writes.
 */
function clientsReadingTogether(count: number): Kube[] {
  const reads: Promise<V1Namespace>[] = [];
  let release: () => void = () => undefined;
  const together = new Promise<void>((resolve) => (release = resolve));
  return Array.from({ length: count }, () => {
    let first = true;
    const core = Object.create(kube.core) as Kube['core'];
    core.readNamespace = async (request) => {
      if (!first) return kube.core.readNamespace(request);
      first = false;
      const answer = kube.core.readNamespace(request);
      reads.push(answer);
      if (reads.length === count) void Promise.all(reads).then(release);
      await together;
      return answer;
    };
    return { ...kube, core };
  });
}

describe('the API server the lock stands on', () => {
  it('refuses a merge patch carrying a stale resourceVersion with 409 Conflict, as Kubernetes does', async () => {
    const before = (await read()).metadata?.resourceVersion ?? '';
    // Someone else writes in between: the resourceVersion moves on.
    await mergePatch({ labels: { other: 'writer' } });
    const refused = await mergePatch({
      resourceVersion: before,
      labels: { 'kube-system': 'lost-update' },
    }).then(
      () => undefined,
      (error: unknown) => apiFailure(error),
    );
    expect(refused).toMatchObject({
      code: OPTIMISTIC_CONCURRENCY.code,
      reason: OPTIMISTIC_CONCURRENCY.reason,
    });
    expect(refused?.message).toContain(OPTIMISTIC_CONCURRENCY.message);
    expect((await read()).metadata?.labels?.['kube-system']).toBe('original');

    // With the current resourceVersion the same write goes through; without one it is unconditional.
    const current = (await read()).metadata?.resourceVersion ?? '';
    await mergePatch({ resourceVersion: current, labels: { other: null } });
    await mergePatch({ labels: { other: null } });
    expect((await read()).metadata?.labels?.other).toBeUndefined();
  });
});

describe('the borrowed-labels lock', () => {
  it('records its holder and restores the labels exactly, an absent one included', async () => {
    const lock = locks('run-a');
    const previous = await lock.borrow(NAMESPACE, BORROWED);
    expect(previous).toEqual({ 'kube-system': 'original', istio: undefined });
    const record = lockRecordOf(await read());
    expect(record).toMatchObject({
      run: 'run-a',
      host: hostname(),
      pid: process.pid,
      previous: { 'kube-system': 'original', istio: null },
    });
    expect(Date.parse(record?.since ?? '')).not.toBeNaN();
    expect((await read()).metadata?.labels).toMatchObject(BORROWED);

    expect(await lock.release()).toEqual([]);
    const after = await read();
    expect(after.metadata?.labels?.['kube-system']).toBe('original');
    expect(after.metadata?.labels && 'istio' in after.metadata.labels).toBe(false);
    expect(lockRecordOf(after)).toBeUndefined();
  });

  it('lets holders that read the same resourceVersion at once in one at a time, naming the holder to the others', async () => {
    // Every borrower reads the namespace before any of them writes: the old check-then-set
    // lock let all of them in here; the precondition lets exactly one write succeed.
    const lines: string[] = [];
    const clients = clientsReadingTogether(4);
    const holders = ['run-a', 'run-b', 'run-c', 'run-d'].map((run, index) =>
      locks(run, {}, lines, clients[index]),
    );
    let inside = 0;
    let most = 0;
    const order: string[] = [];
    await Promise.all(
      holders.map(async (lock, index) => {
        await lock.borrow(NAMESPACE, BORROWED);
        inside += 1;
        most = Math.max(most, inside);
        order.push(`run-${'abcd'[index]}`);
        expect(lockRecordOf(await read())?.run).toBe(order.at(-1));
        // The others are waiting and have said for whom.
        await pollUntil({
          what: 'the other borrowers to name the holder',
          timeoutMs: 10_000,
          intervalMs: 20,
          observe: () => Promise.resolve(lines.join('\n')),
          done: (text) =>
            order.length === holders.length ||
            text.includes(`borrowed by run ${order.at(-1) ?? ''} (`),
        });
        inside -= 1;
        expect(await lock.release()).toEqual([]);
      }),
    );
    expect(most).toBe(1);
    expect(order).toHaveLength(4);
    expect(lines.join('\n')).toContain(`host ${hostname()}, pid ${process.pid}`);
    const after = await read();
    expect(after.metadata?.labels?.['kube-system']).toBe('original');
    expect(after.metadata?.labels && 'istio' in after.metadata.labels).toBe(false);
    expect(lockRecordOf(after)).toBeUndefined();
  });

  it('takes over a lock its holder stopped renewing, putting back the labels that holder recorded', async () => {
    // run-a renews only every 15 minutes: for run-b it is a holder that died.
    const dead = locks('run-a', { sharedNamespaceLockStale: 3_600_000 });
    await dead.borrow(NAMESPACE, BORROWED);
    const lines: string[] = [];
    const taker = locks('run-b', { sharedNamespaceLockStale: 300 }, lines);
    const previous = await taker.borrow(NAMESPACE, { istio: 'system' });
    // run-b's "before" is the value from before run-a, not run-a's.
    expect(previous).toEqual({ istio: undefined });
    expect(lines.join('\n')).toMatch(/waiting for namespace kube-system: .*run run-a/);
    expect(lines.join('\n')).toMatch(/taking over .*run run-a .*not renewed/);
    const during = await read();
    expect(during.metadata?.labels?.['kube-system']).toBe('original');
    expect(lockRecordOf(during)?.run).toBe('run-b');

    expect(await taker.release()).toEqual([]);
    // The stale holder, coming back, finds the lock gone and leaves the labels alone.
    const problems = await dead.release();
    expect(problems.join('\n')).toMatch(/taken over/);
    const after = await read();
    expect(after.metadata?.labels?.['kube-system']).toBe('original');
    expect(after.metadata?.labels && 'istio' in after.metadata.labels).toBe(false);
    expect(lockRecordOf(after)).toBeUndefined();
  });

  it('never takes over a holder that keeps renewing; the waiter gives up naming it', async () => {
    const alive = locks('run-a', { sharedNamespaceLockStale: 400 });
    await alive.borrow(NAMESPACE, BORROWED);
    const waiter = locks('run-b', { sharedNamespaceLockStale: 400, sharedNamespaceLock: 2_000 });
    await expect(waiter.borrow(NAMESPACE, BORROWED)).rejects.toThrow(
      new RegExp(`borrowed by run run-a .*host ${hostname()}, pid ${process.pid}.*2000 ms`),
    );
    expect(lockRecordOf(await read())?.run).toBe('run-a');
    expect(await alive.release()).toEqual([]);
    expect((await read()).metadata?.labels?.['kube-system']).toBe('original');
  });

  it('a waiter whose run is interrupted stops waiting at once and borrows nothing', async () => {
    const holder = locks('run-a');
    await holder.borrow(NAMESPACE, BORROWED);
    const interrupted = new AbortController();
    const lines: string[] = [];
    const waiter = locks('run-b', { sharedNamespaceLock: 60_000 }, lines);
    const started = Date.now();
    const waiting = interruptibleBy(interrupted.signal, () =>
      waiter.borrow(NAMESPACE, { istio: 'system' }),
    ).catch((error: unknown) => error);
    await pollUntil({
      what: 'the waiter to say whom it waits for',
      observe: () => Promise.resolve(lines.join('\n')),
      done: (text) => text.includes('waiting for namespace kube-system'),
      timeoutMs: 10_000,
      intervalMs: 10,
    });
    interrupted.abort();
    const error = await waiting;
    expect(error).toBeInstanceOf(WaitInterruptedError);
    expect((error as Error).message).toMatch(/interrupted while waiting for namespace kube-system/);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(lockRecordOf(await read())?.run).toBe('run-a');
    expect(await waiter.release()).toEqual([]);
    expect(await holder.release()).toEqual([]);
    expect((await read()).metadata?.labels?.['kube-system']).toBe('original');
  });
});

describe('what a run could not give back itself', () => {
  it('a release while a borrow is in flight waits for it and gives its labels back', async () => {
    const holder = locks('run-inflight');
    const borrowing = holder.borrow(NAMESPACE, BORROWED);
    // The cleanup starts before the borrow's write has landed (an interrupted setup).
    const problems = await holder.release();
    await borrowing;
    expect(problems).toEqual([]);
    expect((await read()).metadata?.labels).toMatchObject({ 'kube-system': 'original' });
    expect(lockRecordOf(await read())).toBeUndefined();
  });

  it("the CLI's sweep puts back the labels of a lock its run left, and only that run's", async () => {
    // A run killed after borrowing: its lock and labels stay.
    await locks('run-killed').borrow(NAMESPACE, BORROWED);
    expect(await restoreLocksOfRun(kube, 'another-run')).toEqual([]);
    expect((await read()).metadata?.labels?.['kube-system']).toBe('true');
    expect(await restoreLocksOfRun(kube, 'run-killed')).toEqual([NAMESPACE]);
    const after = await read();
    expect(after.metadata?.labels?.['kube-system']).toBe('original');
    expect(after.metadata?.labels?.istio).toBeUndefined();
    expect(lockRecordOf(after)).toBeUndefined();
  });
});
