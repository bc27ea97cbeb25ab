/**
 * PodDisruptionBudgets and API-initiated evictions: how the disruption controller computes a
 * budget's status and how the eviction subresource honours it. The simulated API server
 * models both from these constants. Sources are kubernetes/kubernetes and the Kubernetes
 * documentation (kubernetes/website); what they say holds for policy/v1, Kubernetes 1.22 to
 * 1.36 (policy/v1 Eviction and PodDisruptionBudget are GA since 1.21/1.22).
 */

/**
 * The disruption controller's status of a PodDisruptionBudget:
 * - `expectedPods`: with an integer `minAvailable`, the number of pods the selector matches;
 *   with a percentage `minAvailable` or any `maxUnavailable`, the sum of the scales of the
 *   pods' controllers (a Deployment's `spec.replicas` for its ReplicaSets' pods);
 * - `desiredHealthy`: `minAvailable` (a percentage of `expectedPods`, rounded up), or
 *   `expectedPods - maxUnavailable` (a percentage rounded up), at least 0;
 * - `currentHealthy`: matching pods that are Ready, not being deleted, and not in
 *   `disruptedPods` (evictions approved in the last `deletionTimeoutMs`);
 * - `disruptionsAllowed`: `currentHealthy - desiredHealthy`, and 0 when that is negative or
 *   `expectedPods` is 0;
 * - condition `DisruptionAllowed`: True `SufficientPods` when disruptions are allowed, else
 *   False `InsufficientPods`.
 * Source: kubernetes/kubernetes pkg/controller/disruption/disruption.go (getExpectedPodCount,
 * getExpectedScale, countHealthyPods, updatePdbStatus; DeletionTimeout 2 minutes) and
 * staging/src/k8s.io/component-helpers/apps/poddisruptionbudget/helpers.go
 * (UpdateDisruptionAllowedCondition); docs: "Specifying a Disruption Budget for your
 * Application" (kubernetes.io/docs/tasks/run-application/configure-pdb/).
 */
export const DISRUPTION_BUDGET_STATUS = {
  deletionTimeoutMs: 2 * 60 * 1000,
  condition: 'DisruptionAllowed',
  sufficient: 'SufficientPods',
  insufficient: 'InsufficientPods',
  /** Percentages of `minAvailable` and `maxUnavailable` are rounded up. */
  percentRoundsUp: true,
  source: 'kubernetes/kubernetes pkg/controller/disruption/disruption.go',
} as const;

/**
 * `minAvailable` and `maxUnavailable` are exclusive: an object with both is refused with
 * `spec: Invalid value: …: minAvailable and maxUnavailable cannot be both set`.
 * Source: kubernetes/kubernetes pkg/apis/policy/validation/validation.go
 * (ValidatePodDisruptionBudgetSpec).
 */
export const DISRUPTION_BUDGET_VALIDATION = {
  bothSet: 'minAvailable and maxUnavailable cannot be both set',
} as const;

/**
 * The eviction subresource (`POST /api/v1/namespaces/NS/pods/NAME/eviction` with a
 * `policy/v1` (or `policy/v1beta1`) `Eviction` named like the pod): a pod that is Pending,
 * Succeeded, Failed or already being deleted is deleted without looking at budgets; a pod
 * no budget selects is deleted; more than one budget: 500 with `multipleBudgets`; a pod that
 * is not Ready while the budget has `currentHealthy >= desiredHealthy > 0` is deleted without
 * using the budget; a budget whose status lags its generation, or with
 * `disruptionsAllowed` 0: 429 TooManyRequests, `tooMany` and a cause of type
 * `DisruptionBudget`; otherwise the budget's `disruptionsAllowed` goes down by one, the pod
 * is recorded in its `disruptedPods`, and the pod is deleted. A successful eviction answers
 * 201 with a `Status` of `Success` (a create's code). A budget with an empty selector selects
 * nothing. Sources: docs "API-initiated Eviction"
 * (kubernetes.io/docs/concepts/scheduling-eviction/api-eviction/: 200/429/500, "If the Pod
 * you want to evict isn't part of a workload that has a PodDisruptionBudget, the API server
 * always returns 200 OK"); kubernetes/kubernetes pkg/registry/core/pod/storage/eviction.go
 * (canIgnorePDB, checkAndDecrement, getPodDisruptionBudgets, the messages below) and
 * staging/src/k8s.io/apiserver/pkg/endpoints/handlers/create.go (201 for a Status without
 * code). Not modelled: `unhealthyPodEvictionPolicy: AlwaysAllow` (the default,
 * IfHealthyBudget, is what is modelled), resourceVersion preconditions.
 */
export const API_EVICTION = {
  successCode: 201,
  tooManyCode: 429,
  tooMany: "Cannot evict pod as it would violate the pod's disruption budget.",
  causeType: 'DisruptionBudget',
  /** The cause when the budget allows no disruption now. */
  needs: (name: string, desired: number, current: number): string =>
    `The disruption budget ${name} needs ${desired} healthy pods and has ${current} currently`,
  /** The cause when the controller has not yet seen the budget's current generation. */
  processing: (name: string): string =>
    `The disruption budget ${name} is still being processed by the server.`,
  multipleBudgets:
    'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
  nameMismatch: 'name in URL does not match name in Eviction object',
  source: 'kubernetes/kubernetes pkg/registry/core/pod/storage/eviction.go',
} as const;

/**
 * What uses evictions and what does not: `kubectl drain` (and cluster autoscalers, node
 * upgrades) evict through the eviction subresource, so they honour budgets; a Deployment's
 * rolling update deletes pods through its ReplicaSets and is bounded by `maxUnavailable`
 * alone, so budgets do not slow it. Source: docs "Disruptions"
 * (kubernetes.io/docs/concepts/workloads/pods/disruptions/: "deleting deployments or pods
 * bypasses Pod Disruption Budgets"; "controllers (like deployment and stateful-set) are not
 * limited by PDBs when doing rolling upgrades") and "API-initiated Eviction".
 */
export const DISRUPTION_BUDGET_SCOPE = {
  honouredBy: ['the eviction subresource (kubectl drain)'],
  bypassedBy: ['pod deletion', 'Deployment rolling updates'],
  source: 'https://kubernetes.io/docs/concepts/workloads/pods/disruptions/',
} as const;
