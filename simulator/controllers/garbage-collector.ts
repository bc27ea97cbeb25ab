/** The garbage collector: dependents go when their owner does. */
import type { ObjectStore } from '../store/object-store.ts';
import { RESOURCE_TYPES } from '../store/resource-types.ts';
import type { KubeObject } from '../types.ts';
import { isIgnorable } from './context.ts';
import { ownedBy } from './ownership.ts';

export function collectGarbage(store: ObjectStore, owner: KubeObject): void {
  const namespace = owner.metadata.namespace;
  if (namespace === undefined) return;
  for (const type of RESOURCE_TYPES) {
    if (!type.namespaced || !type.stored) continue;
    for (const dependent of store.list(type.key, { namespace })) {
      if (!ownedBy(dependent, owner)) continue;
      try {
        store.delete(type.key, namespace, dependent.metadata.name);
      } catch (error) {
        if (!isIgnorable(error)) throw error;
      }
    }
  }
}
