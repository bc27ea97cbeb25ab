/** The replica set controller: creates and deletes pods to match `spec.replicas`. */
import { asRecord, type Json } from '../json.ts';
import { cloneObject, type StoreEvent } from '../store/object-store.ts';
import type { KubeObject } from '../types.ts';
import type { ControllerContext } from './context.ts';
import { reconcileDeployment, updateDeploymentStatus } from './deployments.ts';
import { isPodReady } from './kubelet.ts';
import { controllerOf, controllerReference, ownedBy } from './ownership.ts';

export function onReplicaSetEvent(context: ControllerContext, event: StoreEvent): void {
  const { store } = context;
  const object = event.object;
  if (event.type === 'DELETED') {
    const deployment = controllerOf(store, object, 'Deployment');
    if (deployment !== undefined) updateDeploymentStatus(context, deployment);
    return;
  }
  const current = store.get('ReplicaSet', object.metadata.namespace, object.metadata.name);
  if (current !== undefined) reconcileReplicaSet(context, current);
}

/** A pod of a ReplicaSet changed: its owner recounts. */
export function onOwnedPodEvent(context: ControllerContext, event: StoreEvent): void {
  const replicaSet = controllerOf(context.store, event.object, 'ReplicaSet');
  if (replicaSet !== undefined) reconcileReplicaSet(context, replicaSet);
}

function reconcileReplicaSet(context: ControllerContext, replicaSet: KubeObject): void {
  const { store } = context;
  const namespace = replicaSet.metadata.namespace ?? 'default';
  const spec = asRecord(replicaSet.spec);
  const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
  const pods = store
    .list('Pod', { namespace })
    .filter((pod) => ownedBy(pod, replicaSet) && pod.metadata.deletionTimestamp === undefined);
  if (replicaSet.metadata.deletionTimestamp === undefined) {
    const template = asRecord(spec.template);
    const templateMetadata = asRecord(template.metadata);
    for (let missing = replicas - pods.length; missing > 0; missing -= 1) {
      const pod = store.create({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: '',
          generateName: `${replicaSet.metadata.name}-`,
          namespace,
          labels: { ...(templateMetadata.labels as Record<string, string> | undefined) },
          ...(templateMetadata.annotations === undefined
            ? {}
            : { annotations: { ...(templateMetadata.annotations as Record<string, string>) } }),
          ownerReferences: [controllerReference(replicaSet)],
        },
        spec: cloneObject(asRecord(template.spec)),
      });
      context.emitEvent(
        replicaSet,
        'SuccessfulCreate',
        `Created pod: ${pod.metadata.name}`,
        'replicaset-controller',
      );
    }
    for (const extra of pods.slice(replicas)) {
      store.delete('Pod', namespace, extra.metadata.name);
      context.emitEvent(
        replicaSet,
        'SuccessfulDelete',
        `Deleted pod: ${extra.metadata.name}`,
        'replicaset-controller',
      );
    }
  }
  const current = store
    .list('Pod', { namespace })
    .filter((pod) => ownedBy(pod, replicaSet) && pod.metadata.deletionTimestamp === undefined);
  const ready = current.filter(isPodReady).length;
  store.modify('ReplicaSet', namespace, replicaSet.metadata.name, (draft) => {
    const status: Json = {
      replicas: current.length,
      fullyLabeledReplicas: current.length,
      readyReplicas: ready,
      availableReplicas: ready,
      observedGeneration: draft.metadata.generation,
    };
    for (const key of ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas']) {
      if (status[key] === 0) delete status[key];
    }
    draft.status = status;
  });
  // A pod of this set became ready or went away: a rolling update may take its next step.
  const deployment = controllerOf(store, replicaSet, 'Deployment');
  if (deployment !== undefined) reconcileDeployment(context, deployment);
}
