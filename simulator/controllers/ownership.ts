/** Owner references: how a controller finds what it made and what made an object. */
import type { ObjectStore } from '../store/object-store.ts';
import type { KubeObject } from '../types.ts';

export function ownedBy(object: KubeObject, owner: KubeObject): boolean {
  return (object.metadata.ownerReferences ?? []).some(
    (reference) => reference.uid === owner.metadata.uid,
  );
}

/** The live owner of `kind`; undefined when it is gone or was replaced by a namesake. */
export function controllerOf(
  store: ObjectStore,
  object: KubeObject,
  kind: string,
): KubeObject | undefined {
  const reference = (object.metadata.ownerReferences ?? []).find(
    (candidate) => candidate.kind === kind,
  );
  if (reference === undefined) return undefined;
  const owner = store.get(kind, object.metadata.namespace, reference.name);
  return owner?.metadata.uid === reference.uid ? owner : undefined;
}

export function controllerReference(owner: KubeObject): {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
  blockOwnerDeletion: boolean;
} {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}
