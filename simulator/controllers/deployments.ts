/** The deployment controller: one ReplicaSet per pod template, and the Deployment's status. */
import { createHash } from 'node:crypto';
import { asArray, asRecord, rfc3339, type Json } from '../json.ts';
import type { StoreEvent } from '../store/object-store.ts';
import type { LabelSelectorObject } from '../store/selectors.ts';
import type { KubeObject } from '../types.ts';
import type { ControllerContext } from './context.ts';
import { isPodReady } from './kubelet.ts';
import { controllerReference, ownedBy } from './ownership.ts';
import { rollingUpdateBounds } from '../../harness/facts/upgrade.ts';
import { PROXY_CONTAINER } from '../../harness/facts.ts';

function byRevision(a: KubeObject, b: KubeObject): number {
  const revision = (rs: KubeObject): number =>
    Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? '0');
  return revision(a) - revision(b);
}

/** A gateway's pod template: Istio's proxy alone, in router mode (as mesh/k8s.ts isGatewayPod). */
function isGatewayTemplate(template: Record<string, unknown>): boolean {
  const containers = (asRecord(template.spec).containers ?? []) as {
    name?: string;
    args?: string[];
  }[];
  return containers.some((c) => c.name === PROXY_CONTAINER && (c.args ?? []).includes('router'));
}

// The alphabet Kubernetes uses for generated name suffixes and hashes (no vowels, no
// look-alike digits), so generated names look like the real ones.
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** The `pod-template-hash` of a Deployment's template: 10 characters of Kubernetes' safe alphabet. */
export function podTemplateHash(template: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(template)).digest();
  return Array.from(
    digest.subarray(0, 10),
    (byte) => SAFE_ALPHABET[byte % SAFE_ALPHABET.length] ?? 'x',
  ).join('');
}

export function onDeploymentEvent(context: ControllerContext, event: StoreEvent): void {
  const object = event.object;
  if (event.type === 'DELETED') return;
  const current = context.store.get('Deployment', object.metadata.namespace, object.metadata.name);
  if (current !== undefined) reconcileDeployment(context, current);
}

/** Deployments being reconciled, per cluster: whether an event asked for another pass. */
const reconciling = new WeakMap<ControllerContext, Map<string, boolean>>();

/**
 * Brings a Deployment's replica sets one step closer to its template (level-triggered). The
 * store notifies watchers synchronously, so scaling a replica set re-enters this function
 * through the pods it creates or deletes; a nested call only asks the running one for another
 * pass, which then starts from the store as it is (a pass on a stale list of replica sets
 * would scale past maxSurge or below maxUnavailable).
 */
export function reconcileDeployment(context: ControllerContext, deployment: KubeObject): void {
  const namespace = deployment.metadata.namespace ?? 'default';
  const key = `${namespace}/${deployment.metadata.name}`;
  let passes = reconciling.get(context);
  if (!passes) reconciling.set(context, (passes = new Map<string, boolean>()));
  if (passes.has(key)) {
    passes.set(key, true);
    return;
  }
  passes.set(key, false);
  try {
    // Each pass makes progress or changes nothing; the bound only guards against a bug looping.
    for (let pass = 0; pass < 50; pass += 1) {
      const current = context.store.get('Deployment', namespace, deployment.metadata.name);
      if (current === undefined) return;
      reconcileOnce(context, current);
      if (!passes.get(key)) return;
      passes.set(key, false);
    }
  } finally {
    passes.delete(key);
  }
}

function reconcileOnce(context: ControllerContext, deployment: KubeObject): void {
  const { store } = context;
  if (deployment.metadata.deletionTimestamp !== undefined) return;
  const spec = asRecord(deployment.spec);
  const template = asRecord(spec.template);
  const hash = podTemplateHash(template);
  const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
  const namespace = deployment.metadata.namespace ?? 'default';
  const name = `${deployment.metadata.name}-${hash}`;
  const owned = store.list('ReplicaSet', { namespace }).filter((rs) => ownedBy(rs, deployment));
  const revision = String(
    1 +
      Math.max(
        0,
        ...owned.map((rs) =>
          Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? '0'),
        ),
      ),
  );
  const templateMetadata = asRecord(template.metadata);
  const podLabels = {
    ...(templateMetadata.labels as Record<string, string> | undefined),
    'pod-template-hash': hash,
  };
  const selector = asRecord(spec.selector) as LabelSelectorObject;
  const desired: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: {
      name,
      namespace,
      labels: podLabels,
      annotations: {
        'deployment.kubernetes.io/desired-replicas': String(replicas),
        'deployment.kubernetes.io/max-replicas': String(replicas + 1),
        'deployment.kubernetes.io/revision': revision,
      },
      ownerReferences: [controllerReference(deployment)],
    },
    spec: {
      replicas,
      selector: {
        ...selector,
        matchLabels: { ...(selector.matchLabels ?? {}), 'pod-template-hash': hash },
      },
      template: {
        ...template,
        metadata: { ...templateMetadata, labels: podLabels },
      },
    },
  };
  const current = owned.find((rs) => rs.metadata.name === name);
  const replicasOf = (rs: KubeObject): number => {
    const value = asRecord(rs.spec).replicas;
    return typeof value === 'number' ? value : 1;
  };
  const olds = owned.filter((rs) => rs.metadata.name !== name && replicasOf(rs) > 0);
  // The `upgrade-drops-traffic` fault: the gateway replaces every replica at once, as a
  // Recreate strategy (or a forced delete of all pods) would.
  const allAtOnce =
    olds.length === 0 ||
    asRecord(spec.strategy).type === 'Recreate' ||
    (context.settings.faults.has('upgrade-drops-traffic') && isGatewayTemplate(template));
  let newReplicas = replicas;
  if (!allAtOnce) {
    // A rolling update (ROLLING_UPDATE_DEFAULTS): surge within maxSurge, and scale the old
    // replica sets down only as far as the ready pods allow (maxUnavailable).
    const { maxSurge } = rollingUpdateBounds(
      asRecord(asRecord(spec.strategy).rollingUpdate),
      replicas,
    );
    const existing = current === undefined ? 0 : replicasOf(current);
    const total = existing + olds.reduce((sum, rs) => sum + replicasOf(rs), 0);
    newReplicas = Math.min(replicas, existing + Math.max(0, replicas + maxSurge - total));
  }
  if (current === undefined) {
    desired.spec = { ...desired.spec, replicas: newReplicas };
    (desired.metadata.annotations ??= {})['deployment.kubernetes.io/desired-replicas'] =
      String(replicas);
    store.create(desired);
    context.emitEvent(
      deployment,
      'ScalingReplicaSet',
      `Scaled up replica set ${name} from 0 to ${newReplicas}`,
      'deployment-controller',
    );
  } else if (replicasOf(current) !== newReplicas) {
    store.modify('ReplicaSet', namespace, name, (draft) => {
      asRecord(draft.spec).replicas = newReplicas;
      (draft.metadata.annotations ??= {})['deployment.kubernetes.io/desired-replicas'] =
        String(replicas);
    });
  }
  if (allAtOnce) {
    for (const old of olds) {
      store.modify('ReplicaSet', namespace, old.metadata.name, (draft) => {
        asRecord(draft.spec).replicas = 0;
      });
    }
  } else {
    const { maxUnavailable } = rollingUpdateBounds(
      asRecord(asRecord(spec.strategy).rollingUpdate),
      replicas,
    );
    const pods = store
      .list('Pod', { namespace })
      .filter((pod) => pod.metadata.deletionTimestamp === undefined);
    // Ready pods beyond a set's replicas are on their way out (its scale-down is being
    // carried out): they count for nothing, or a pass would remove old pods twice.
    const readyOf = (rs: KubeObject): number =>
      Math.min(replicasOf(rs), pods.filter((pod) => ownedBy(pod, rs) && isPodReady(pod)).length);
    const ready = owned.reduce((sum, rs) => sum + readyOf(rs), 0);
    let removable = Math.max(0, ready - (replicas - maxUnavailable));
    // Oldest first, as the controller scales down; pods that are not ready go for free.
    for (const old of [...olds].sort(byRevision)) {
      const unready = replicasOf(old) - readyOf(old);
      const cut = Math.min(replicasOf(old), Math.max(0, unready) + removable);
      if (cut === 0) continue;
      removable -= Math.max(0, cut - Math.max(0, unready));
      store.modify('ReplicaSet', namespace, old.metadata.name, (draft) => {
        asRecord(draft.spec).replicas = replicasOf(old) - cut;
      });
    }
  }
  updateDeploymentStatus(context, deployment);
}

/** Recomputes the status from the pods of every ReplicaSet the Deployment owns. */
export function updateDeploymentStatus(context: ControllerContext, deployment: KubeObject): void {
  const { store } = context;
  const namespace = deployment.metadata.namespace ?? 'default';
  const spec = asRecord(deployment.spec);
  const desired = typeof spec.replicas === 'number' ? spec.replicas : 1;
  const currentName = `${deployment.metadata.name}-${podTemplateHash(asRecord(spec.template))}`;
  const replicaSets = store
    .list('ReplicaSet', { namespace })
    .filter((rs) => ownedBy(rs, deployment));
  const pods = store
    .list('Pod', { namespace })
    .filter(
      (pod) =>
        replicaSets.some((rs) => ownedBy(pod, rs)) && pod.metadata.deletionTimestamp === undefined,
    );
  const ready = pods.filter(isPodReady).length;
  const updated = pods.filter(
    (pod) => pod.metadata.ownerReferences?.[0]?.name === currentName,
  ).length;
  const now = rfc3339(store.now());
  store.modify('Deployment', namespace, deployment.metadata.name, (draft) => {
    const previous = asRecord(draft.status);
    const previousConditions = asArray(previous.conditions);
    const condition = (type: string, status: string, reason: string, message: string): Json => {
      const old = previousConditions.find((candidate) => candidate.type === type);
      const same = old?.status === status && old.reason === reason;
      return {
        type,
        status,
        lastUpdateTime: same ? old.lastUpdateTime : now,
        lastTransitionTime: old?.status === status ? old.lastTransitionTime : now,
        reason,
        message,
      };
    };
    const available = ready >= desired;
    const progressed = updated === desired && ready >= desired;
    const status: Json = {
      observedGeneration: draft.metadata.generation,
      replicas: pods.length,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: ready,
      conditions: [
        available
          ? condition(
              'Available',
              'True',
              'MinimumReplicasAvailable',
              'Deployment has minimum availability.',
            )
          : condition(
              'Available',
              'False',
              'MinimumReplicasUnavailable',
              'Deployment does not have minimum availability.',
            ),
        progressed
          ? condition(
              'Progressing',
              'True',
              'NewReplicaSetAvailable',
              `ReplicaSet "${currentName}" has successfully progressed.`,
            )
          : condition(
              'Progressing',
              'True',
              'ReplicaSetUpdated',
              `ReplicaSet "${currentName}" is progressing.`,
            ),
      ],
    };
    // The real controller omits zero counts.
    for (const key of ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas']) {
      if (status[key] === 0) delete status[key];
    }
    if (pods.length - ready > 0) status.unavailableReplicas = pods.length - ready;
    draft.status = status;
  });
}
