/**
 * PodDisruptionBudgets as the disruption controller computes them (DISRUPTION_BUDGET_STATUS):
 * which pods a budget selects and the status it has for them. The controller
 * (controllers/disruption.ts) writes that status; the eviction subresource (api/eviction.ts)
 * reads it, as the real API server reads what the real controller wrote.
 */
import { DISRUPTION_BUDGET_STATUS } from '../harness/facts/disruption-budget.ts';
import { asArray, asRecord, rfc3339, type Json } from './json.ts';
import type { ObjectStore } from './store/object-store.ts';
import { matchesLabelSelectorObject, type LabelSelectorObject } from './store/selectors.ts';
import type { KubeObject } from './types.ts';

/** Whether the pod's Ready condition is True (podutil.IsPodReady). */
export function podIsReady(pod: KubeObject): boolean {
  return asArray(asRecord(pod.status).conditions).some(
    (condition) => condition.type === 'Ready' && condition.status === 'True',
  );
}

/** Whether `budget` selects `pod`: same namespace, and a selector that is not empty. */
export function budgetSelects(budget: KubeObject, pod: KubeObject): boolean {
  if (budget.metadata.namespace !== pod.metadata.namespace) return false;
  const selector = asRecord(asRecord(budget.spec).selector) as LabelSelectorObject;
  // An empty selector selects nothing here, unlike a NetworkPolicy's (eviction.go).
  const empty =
    Object.keys(selector.matchLabels ?? {}).length === 0 &&
    (selector.matchExpressions ?? []).length === 0;
  return !empty && matchesLabelSelectorObject(selector, pod.metadata.labels);
}

/** The budgets of the pod's namespace that select it. */
export function budgetsSelecting(store: ObjectStore, pod: KubeObject): KubeObject[] {
  return store
    .list('PodDisruptionBudget', { namespace: pod.metadata.namespace ?? 'default' })
    .filter((budget) => budgetSelects(budget, pod));
}

/** An int-or-percent of `total`; percentages rounded up, as the controller does. */
function scaled(value: unknown, total: number): number {
  if (typeof value === 'number') return value;
  const percent = /^(\d+)%$/.exec(String(value));
  if (!percent) return 0;
  const exact = (Number(percent[1]) * total) / 100;
  return DISRUPTION_BUDGET_STATUS.percentRoundsUp ? Math.ceil(exact) : Math.floor(exact);
}

/**
 * The sum of the scales of the pods' controllers (getExpectedScale): a Deployment's replicas
 * for its ReplicaSets' pods, a bare ReplicaSet's own; pods without a controller count for
 * nothing. A controller of another kind is an error, as one the real finders do not know.
 */
function controllerScale(store: ObjectStore, pods: readonly KubeObject[]): number {
  const scales = new Map<string, number>();
  const replicas = (object: KubeObject): number => {
    const value = asRecord(object.spec).replicas;
    return typeof value === 'number' ? value : 1;
  };
  for (const pod of pods) {
    const reference = (pod.metadata.ownerReferences ?? []).find((owner) => owner.controller);
    if (reference === undefined) continue;
    const namespace = pod.metadata.namespace;
    const replicaSet =
      reference.kind === 'ReplicaSet'
        ? store.get('ReplicaSet', namespace, reference.name)
        : undefined;
    if (replicaSet === undefined || replicaSet.metadata.uid !== reference.uid) {
      throw new Error(`found no controllers for pod "${pod.metadata.name}"`);
    }
    const owner = (replicaSet.metadata.ownerReferences ?? []).find((entry) => entry.controller);
    const deployment =
      owner?.kind === 'Deployment' ? store.get('Deployment', namespace, owner.name) : undefined;
    if (deployment !== undefined && deployment.metadata.uid === owner?.uid) {
      scales.set(deployment.metadata.uid ?? '', replicas(deployment));
    } else {
      scales.set(replicaSet.metadata.uid ?? '', replicas(replicaSet));
    }
  }
  return [...scales.values()].reduce((sum, scale) => sum + scale, 0);
}

/** `DisruptionAllowed` as UpdateDisruptionAllowedCondition sets it, keeping the transition time. */
function allowedCondition(
  previous: Json,
  allowed: boolean,
  generation: unknown,
  now: string,
): Json {
  const { condition, sufficient, insufficient } = DISRUPTION_BUDGET_STATUS;
  const old = asArray(previous.conditions).find((entry) => entry.type === condition);
  const status = allowed ? 'True' : 'False';
  return {
    type: condition,
    status,
    observedGeneration: generation,
    lastTransitionTime: old?.status === status ? old.lastTransitionTime : now,
    reason: allowed ? sufficient : insufficient,
    message: '',
  };
}

/** The status the disruption controller writes for `budget` at `now` (ms). */
export function budgetStatus(store: ObjectStore, budget: KubeObject, now: number): Json {
  const spec = asRecord(budget.spec);
  const previous = asRecord(budget.status);
  const generation = budget.metadata.generation;
  const pods = store
    .list('Pod', { namespace: budget.metadata.namespace ?? 'default' })
    .filter((pod) => budgetSelects(budget, pod));
  let expectedPods = 0;
  let desiredHealthy = 0;
  try {
    if (spec.maxUnavailable !== undefined) {
      expectedPods = controllerScale(store, pods);
      desiredHealthy = Math.max(0, expectedPods - scaled(spec.maxUnavailable, expectedPods));
    } else if (typeof spec.minAvailable === 'number') {
      desiredHealthy = spec.minAvailable;
      expectedPods = pods.length;
    } else if (spec.minAvailable !== undefined) {
      expectedPods = controllerScale(store, pods);
      desiredHealthy = scaled(spec.minAvailable, expectedPods);
    }
  } catch (error) {
    // failSafe: no disruption is allowed while the budget cannot be computed.
    const stamp = rfc3339(now);
    return {
      ...previous,
      disruptionsAllowed: 0,
      conditions: [
        {
          ...allowedCondition(previous, false, previous.observedGeneration, stamp),
          reason: 'SyncFailed',
          message: error instanceof Error ? error.message : String(error),
        },
      ],
    };
  }
  // Approved evictions whose pods still run count as gone for DeletionTimeout.
  const recorded = asRecord(previous.disruptedPods);
  const disruptedPods: Record<string, string> = {};
  for (const pod of pods) {
    const at = recorded[pod.metadata.name];
    if (pod.metadata.deletionTimestamp !== undefined || typeof at !== 'string') continue;
    if (Date.parse(at) + DISRUPTION_BUDGET_STATUS.deletionTimeoutMs > now)
      disruptedPods[pod.metadata.name] = at;
  }
  const currentHealthy = pods.filter(
    (pod) =>
      pod.metadata.deletionTimestamp === undefined &&
      disruptedPods[pod.metadata.name] === undefined &&
      podIsReady(pod),
  ).length;
  const difference = currentHealthy - desiredHealthy;
  const disruptionsAllowed = expectedPods <= 0 || difference <= 0 ? 0 : difference;
  return {
    ...(Object.keys(disruptedPods).length > 0 ? { disruptedPods } : {}),
    disruptionsAllowed,
    currentHealthy,
    desiredHealthy,
    expectedPods,
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    conditions: [allowedCondition(previous, disruptionsAllowed > 0, generation, rfc3339(now))],
  };
}
