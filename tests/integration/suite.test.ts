/**
 * The suite fixture's handling of shared namespaces, against the simulated API server:
 * borrowed labels come back exactly, and two runs borrowing at once take turns.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedCluster, type SimulatedCluster } from '../../simulator/cluster.ts';
import { SHARED_LOCK_ANNOTATION, SuiteEnvironment } from '../../harness/suite.ts';
import { resolveTimeouts } from '../../harness/timeouts.ts';
import type { RunContext } from '../../harness/run-context.ts';
import { simulatedTarget } from '../../harness/reporting/testing.ts';

/** network-policy's one variant. */
const VARIANT = { mtls: 'disabled', api: 'istio-api' } as const;

let dir: string;
let cluster: SimulatedCluster;

function run(runId: string): RunContext {
  const target = simulatedTarget(cluster.kubeconfigPath);
  const host = target.externalHosts['http-gateway'];
  return {
    runId,
    target: { ...target, externalHosts: host ? { 'network-policy': host } : {} },
    mtlsModes: ['disabled'],
    apis: ['istio-api'],
    timeouts: resolveTimeouts({ pollInterval: 20, sharedNamespaceLock: 10_000 }),
    requiredObservations: 3,
    clientImage: 'curlimages/curl',
    keepOnFailure: false,
    reportsDir: dir,
    manifestsDir: dir,
  };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egc-suite-'));
  cluster = await startSimulatedCluster({
    options: { faults: new Set(), propagationMs: 0, propagationJitterMs: 0, podStartMs: 0 },
    createExecHandler: () => ({
      exec: () => Promise.resolve({ stdout: '', stderr: '', exitCode: 0 }),
    }),
    dir,
  });
});

afterAll(async () => {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('borrowed labels on shared namespaces', () => {
  it('are restored exactly, and a second run waits until the first gives them back', async () => {
    const first = new SuiteEnvironment(run('run-a'), 'network-policy', VARIANT);
    const second = new SuiteEnvironment(run('run-b'), 'network-policy', VARIANT);
    const labelsOf = async () =>
      (await first.kube.core.readNamespace({ name: 'kube-system' })).metadata ?? {};
    const before = (await labelsOf()).labels ?? {};

    await first.borrowNamespaceLabels('kube-system', { 'kube-system': 'true' });
    expect((await labelsOf()).annotations?.[SHARED_LOCK_ANNOTATION]).toBe('run-a');

    let secondHasIt = false;
    const waiting = second
      .borrowNamespaceLabels('kube-system', { 'kube-system': 'true' })
      .then(() => (secondHasIt = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(secondHasIt).toBe(false);

    await first.restoreBorrowedLabels();
    await waiting;
    expect((await labelsOf()).annotations?.[SHARED_LOCK_ANNOTATION]).toBe('run-b');
    await second.restoreBorrowedLabels();

    const after = await labelsOf();
    expect(after.labels ?? {}).toEqual(before);
    expect(after.annotations?.[SHARED_LOCK_ANNOTATION]).toBeUndefined();
    await expect(first.labelsMustBeRestored()).resolves.toBeUndefined();
    await expect(second.labelsMustBeRestored()).resolves.toBeUndefined();
  });
});
