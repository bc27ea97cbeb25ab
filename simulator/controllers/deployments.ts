/** The deployment controller: one ReplicaSet per pod template, and the Deployment's status. */
import { createHash } from 'node:crypto';
import { asArray, asRecord, rfc3339, type Json } from '../json.ts';
import type { StoreEvent } from '../store/object-store.ts';
import type { LabelSelectorObject } from '../store/selectors.ts';
import type { KubeObject } from '../types.ts';
import type { ControllerContext } from './context.ts';
import { isPodReady } from './kubelet.ts';
import { controllerReference, ownedBy } from './ownership.ts';

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

function reconcileDeployment(context: ControllerContext, deployment: KubeObject): void {
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
  if (current === undefined) {
    store.create(desired);
    context.emitEvent(
      deployment,
      'ScalingReplicaSet',
      `Scaled up replica set ${name} from 0 to ${replicas}`,
      'deployment-controller',
    );
  } else if (asRecord(current.spec).replicas !== replicas) {
    store.modify('ReplicaSet', namespace, name, (draft) => {
      asRecord(draft.spec).replicas = replicas;
      (draft.metadata.annotations ??= {})['deployment.kubernetes.io/desired-replicas'] =
        String(replicas);
    });
  }
  // A simplified rolling update: the old replica sets are scaled to zero at once.
  for (const old of owned) {
    if (old.metadata.name === name || asRecord(old.spec).replicas === 0) continue;
    store.modify('ReplicaSet', namespace, old.metadata.name, (draft) => {
      asRecord(draft.spec).replicas = 0;
    });
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
