// PodDisruptionBudgets and the eviction subresource of the simulated API server, through
// @kubernetes/client-node as any client uses them (DISRUPTION_BUDGET_STATUS, API_EVICTION).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PolicyV1Api,
  type V1PodDisruptionBudget,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_EVICTION,
  DISRUPTION_BUDGET_VALIDATION,
} from '../../harness/facts/disruption-budget.ts';
import { GATEWAY_PDB } from '../../harness/facts/upgrade.ts';
import { readSimOptions, startSimulatedCluster, type SimulatedCluster } from '../cluster.ts';

// Long enough that a replacement pod is not Ready when the next request arrives.
const POD_START_MS = 400;
const NAMESPACE = 'budgets';

let dir: string;
let cluster: SimulatedCluster;
let core: CoreV1Api;
let apps: AppsV1Api;
let policy: PolicyV1Api;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'egress-sim-pdb-'));
  cluster = await startSimulatedCluster({
    options: readSimOptions({ EGRESS_SIM_POD_START_MS: String(POD_START_MS) }),
    dir,
    createExecHandler: () => ({
      exec: () => Promise.resolve({ stdout: '', stderr: '', exitCode: 0 }),
    }),
    // Two gateway replicas: the install an upgrade run asks for, with the chart's budget.
    istio: {
      version: '1.31.1',
      accessLogEncoding: 'TEXT',
      outboundStatsIncluded: true,
      install: true,
      gatewayReplicas: 2,
    },
  });
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  policy = kc.makeApiClient(PolicyV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
});

afterAll(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function deployment(
  name: string,
  replicas: number,
  strategy?: Record<string, unknown>,
): Promise<void> {
  await apps.createNamespacedDeployment({
    namespace: NAMESPACE,
    body: {
      metadata: { name },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        ...(strategy ? { strategy: { type: 'RollingUpdate', rollingUpdate: strategy } } : {}),
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
        },
      },
    },
  });
}

async function budget(name: string, spec: Record<string, unknown>): Promise<void> {
  await policy.createNamespacedPodDisruptionBudget({
    namespace: NAMESPACE,
    body: { metadata: { name }, spec: { selector: { matchLabels: { app: name } }, ...spec } },
  });
}

async function statusOf(name: string): Promise<V1PodDisruptionBudget['status']> {
  return (await policy.readNamespacedPodDisruptionBudget({ name, namespace: NAMESPACE })).status;
}

async function podsOf(app: string): Promise<string[]> {
  const pods = await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `app=${app}` });
  return pods.items.map((pod) => pod.metadata?.name ?? '');
}

async function phasesOf(app: string): Promise<(string | undefined)[]> {
  const pods = await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `app=${app}` });
  return pods.items.map((pod) => pod.status?.phase);
}

/** Evicts a pod: the HTTP code and the body the API server answered. */
async function evict(
  pod: string,
  dryRun?: string,
): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    const answer = await core.createNamespacedPodEvictionWithHttpInfo({
      name: pod,
      namespace: NAMESPACE,
      body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod } },
      ...(dryRun ? { dryRun } : {}),
    });
    return {
      code: answer.httpStatusCode,
      body: answer.data as unknown as Record<string, unknown>,
    };
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    return { code: error.code, body: JSON.parse(String(error.body)) as Record<string, unknown> };
  }
}

const settled = { timeout: 10_000, interval: 50 };

describe('PodDisruptionBudget (policy/v1)', () => {
  it('is served with its short name, and pods/eviction takes a policy/v1 Eviction', async () => {
    const resources = await policy.getAPIResources();
    expect(resources.resources.find((r) => r.name === 'poddisruptionbudgets')).toMatchObject({
      kind: 'PodDisruptionBudget',
      namespaced: true,
      shortNames: ['pdb'],
    });
    expect(resources.resources.some((r) => r.name === 'poddisruptionbudgets/status')).toBe(true);
    const coreResources = await core.getAPIResources();
    expect(coreResources.resources.find((r) => r.name === 'pods/eviction')).toMatchObject({
      group: 'policy',
      version: 'v1',
      kind: 'Eviction',
      verbs: ['create'],
    });
  });

  it('counts ready pods against minAvailable, and evictions take one disruption at a time', async () => {
    await deployment('web', 2);
    await budget('web', { minAvailable: 1 });
    await expect
      .poll(() => statusOf('web'), settled)
      .toMatchObject({
        expectedPods: 2,
        currentHealthy: 2,
        desiredHealthy: 1,
        disruptionsAllowed: 1,
        observedGeneration: 1,
        conditions: [{ type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods' }],
      });
    const [first, second] = await podsOf('web');
    expect(await evict(first ?? '')).toMatchObject({
      code: 201,
      body: { kind: 'Status' },
    });
    // The first pod's replacement is not ready yet: the budget has no disruption left.
    const refused = await evict(second ?? '');
    expect(refused).toMatchObject({
      code: 429,
      body: {
        reason: 'TooManyRequests',
        message: API_EVICTION.tooMany,
        details: {
          causes: [
            {
              reason: 'DisruptionBudget',
              message: 'The disruption budget web needs 1 healthy pods and has 1 currently',
            },
          ],
        },
      },
    });
    expect(await podsOf('web')).toContain(second);
    // Once the replacement is ready, the same eviction goes through: the 429 was the budget's.
    await expect.poll(async () => (await statusOf('web'))?.disruptionsAllowed, settled).toBe(1);
    expect((await evict(second ?? '')).code).toBe(201);
    expect(await podsOf('web')).not.toContain(second);
  });

  it('scales maxUnavailable percentages by the controller, rounding up', async () => {
    await deployment('api', 4);
    await budget('api', { maxUnavailable: '30%' });
    // 4 replicas, 30% of 4 = 1.2, rounded up: 2 may be unavailable, 2 must stay.
    await expect
      .poll(() => statusOf('api'), settled)
      .toMatchObject({
        expectedPods: 4,
        desiredHealthy: 2,
        currentHealthy: 4,
        disruptionsAllowed: 2,
      });
  });

  it('refuses minAvailable with maxUnavailable, and an eviction with two budgets', async () => {
    await expect(budget('both', { minAvailable: 1, maxUnavailable: 1 })).rejects.toMatchObject({
      code: 422,
      body: expect.stringContaining(DISRUPTION_BUDGET_VALIDATION.bothSet) as unknown,
    });
    await deployment('twice', 1);
    await budget('twice', { minAvailable: 0 });
    await policy.createNamespacedPodDisruptionBudget({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'twice-again' },
        spec: { selector: { matchLabels: { app: 'twice' } }, maxUnavailable: 1 },
      },
    });
    await expect.poll(() => phasesOf('twice'), settled).toEqual(['Running']);
    const [pod] = await podsOf('twice');
    expect(await evict(pod ?? '')).toMatchObject({
      code: 500,
      body: { message: API_EVICTION.multipleBudgets },
    });
  });

  it('evicts freely what no budget selects; a dry run deletes nothing', async () => {
    await deployment('free', 1);
    await expect.poll(() => phasesOf('free'), settled).toEqual(['Running']);
    const [pod] = await podsOf('free');
    expect((await evict(pod ?? '', 'All')).code).toBe(201);
    expect(await podsOf('free')).toContain(pod);
    expect((await evict(pod ?? '')).code).toBe(201);
    expect(await podsOf('free')).not.toContain(pod);
  });

  it('does not hold back a rolling update: the Deployment controller never evicts', async () => {
    await deployment('rolled', 2, { maxSurge: 0, maxUnavailable: 2 });
    await budget('rolled', { minAvailable: 2 });
    await expect
      .poll(() => statusOf('rolled'), settled)
      .toMatchObject({ currentHealthy: 2, disruptionsAllowed: 0 });
    const before = await podsOf('rolled');
    expect((await evict(before[0] ?? '')).code).toBe(429);
    const current = await apps.readNamespacedDeployment({ name: 'rolled', namespace: NAMESPACE });
    const template = current.spec?.template;
    if (template) template.metadata = { ...template.metadata, annotations: { restartedAt: 'now' } };
    await apps.replaceNamespacedDeployment({ name: 'rolled', namespace: NAMESPACE, body: current });
    // Both pods are replaced at once (maxUnavailable 2), budget or not.
    await expect
      .poll(async () => (await podsOf('rolled')).filter((name) => before.includes(name)), settled)
      .toEqual([]);
  });

  it("keeps one of the egress gateway's two pods through evictions (the chart's budget, GATEWAY_PDB)", async () => {
    const namespace = 'istio-system';
    const read = (): Promise<V1PodDisruptionBudget> =>
      policy.readNamespacedPodDisruptionBudget({ name: 'istio-egressgateway', namespace });
    await expect
      .poll(async () => (await read()).status, settled)
      .toMatchObject({ expectedPods: 2, currentHealthy: 2, disruptionsAllowed: 1 });
    expect((await read()).spec?.minAvailable).toBe(GATEWAY_PDB.minAvailable);
    const pods = await core.listNamespacedPod({ namespace, labelSelector: 'istio=egressgateway' });
    const names = pods.items.map((pod) => pod.metadata?.name ?? '');
    const evictGateway = async (name: string): Promise<number> => {
      try {
        const body = { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name } };
        return (await core.createNamespacedPodEvictionWithHttpInfo({ name, namespace, body }))
          .httpStatusCode;
      } catch (error) {
        if (error instanceof ApiException) return error.code;
        throw error;
      }
    };
    expect(await evictGateway(names[0] ?? '')).toBe(201);
    expect(await evictGateway(names[1] ?? '')).toBe(429);
  });
});
