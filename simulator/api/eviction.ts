/**
 * `POST …/pods/NAME/eviction`: a policy-controlled delete (API_EVICTION). The pod goes only
 * when the PodDisruptionBudget that selects it allows a disruption now; otherwise 429, which
 * `kubectl drain` retries. Rolling updates never come here: they delete through ReplicaSets
 * (DISRUPTION_BUDGET_SCOPE).
 */
import { API_EVICTION, DISRUPTION_BUDGET_STATUS } from '../../harness/facts/disruption-budget.ts';
import { budgetsSelecting, podIsReady } from '../disruption-budgets.ts';
import { asArray, asRecord, isRecord, rfc3339, text } from '../json.ts';
import { ApiError, badRequestError } from '../store/errors.ts';
import type { KubeObject } from '../types.ts';
import { parseBody } from './bodies.ts';
import { existingObject, type ResourceCall } from './objects.ts';

const EVICTION_VERSIONS = ['policy/v1', 'policy/v1beta1'];

function success(): { code: number; object: unknown } {
  return {
    code: API_EVICTION.successCode,
    object: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      code: API_EVICTION.successCode,
    },
  };
}

function tooManyRequests(cause: string): ApiError {
  return new ApiError(API_EVICTION.tooManyCode, 'TooManyRequests', API_EVICTION.tooMany, {
    causes: [{ reason: API_EVICTION.causeType, message: cause }],
  });
}

/** Phases and states in which an eviction deletes without asking a budget (canIgnorePDB). */
function ignoresBudgets(pod: KubeObject): boolean {
  const phase = text(asRecord(pod.status).phase);
  return (
    ['Pending', 'Succeeded', 'Failed'].includes(phase) ||
    pod.metadata.deletionTimestamp !== undefined
  );
}

/** Answers an eviction request for the pod `call.resource` names. */
export function evictPod(call: ResourceCall): { code: number; object: unknown } {
  const { store, resource } = call;
  const eviction = parseBody(call.body, call.headers['content-type']);
  if (
    !isRecord(eviction) ||
    eviction.kind !== 'Eviction' ||
    !EVICTION_VERSIONS.includes(text(eviction.apiVersion))
  ) {
    throw badRequestError(
      `the body must be a policy/v1 Eviction, got ${isRecord(eviction) ? `${text(eviction.apiVersion)} ${text(eviction.kind)}` : typeof eviction}`,
    );
  }
  if (asRecord(eviction.metadata).name !== resource.name)
    throw badRequestError(API_EVICTION.nameMismatch);
  const deleteOptions = asRecord(eviction.deleteOptions);
  const dryRun =
    call.dryRun || (Array.isArray(deleteOptions.dryRun) && deleteOptions.dryRun.includes('All'));
  const pod = existingObject(store, resource);
  const evict = (): { code: number; object: unknown } => {
    if (!dryRun) store.delete('Pod', resource.namespace, pod.metadata.name);
    return success();
  };
  if (ignoresBudgets(pod)) return evict();
  const budgets = budgetsSelecting(store, pod);
  if (budgets.length > 1) {
    return {
      code: 500,
      object: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: API_EVICTION.multipleBudgets,
        code: 500,
      },
    };
  }
  const budget = budgets[0];
  if (budget === undefined) return evict();
  const status = asRecord(budget.status);
  const count = (value: unknown): number => (typeof value === 'number' ? value : 0);
  const current = count(status.currentHealthy);
  const desired = count(status.desiredHealthy);
  // A pod that is not Ready does not count as healthy: evicting it costs the budget nothing.
  if (!podIsReady(pod) && current >= desired && desired > 0) return evict();
  if (count(status.observedGeneration) < count(budget.metadata.generation)) {
    throw tooManyRequests(API_EVICTION.processing(budget.metadata.name));
  }
  if (count(status.disruptionsAllowed) <= 0) {
    throw tooManyRequests(API_EVICTION.needs(budget.metadata.name, desired, current));
  }
  if (!dryRun) {
    // The API server takes one disruption and notes the pod, so that a second eviction
    // before the controller recounts cannot take the same one.
    const at = rfc3339(store.now());
    store.modify(
      'PodDisruptionBudget',
      budget.metadata.namespace,
      budget.metadata.name,
      (draft) => {
        const next = asRecord(draft.status);
        next.disruptionsAllowed = count(next.disruptionsAllowed) - 1;
        next.disruptedPods = { ...asRecord(next.disruptedPods), [pod.metadata.name]: at };
        if (next.disruptionsAllowed === 0) {
          next.conditions = asArray(next.conditions).map((condition) =>
            condition.type === DISRUPTION_BUDGET_STATUS.condition
              ? {
                  ...condition,
                  status: 'False',
                  reason: DISRUPTION_BUDGET_STATUS.insufficient,
                  lastTransitionTime: at,
                }
              : condition,
          );
        }
        draft.status = next;
      },
    );
  }
  return evict();
}
