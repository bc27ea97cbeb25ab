/**
 * Which kinds the API server serves right now: every built-in kind, and a kind defined by a
 * CustomResourceDefinition only while that CRD is stored with the version served, as a real
 * API server serves an installed CRD's versions (apiextensions.k8s.io/v1 `spec.versions[].served`).
 */
import { asArray, asRecord, text } from '../json.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { ResourceType } from '../store/resource-types.ts';

/** Whether a kind is served at a version. */
export type ServedPredicate = (type: ResourceType, version: string) => boolean;

/** Serves everything (discovery of a store-less caller, and the default of the routing helpers). */
export const SERVE_ALL: ServedPredicate = () => true;

/** What `store`'s installed CRDs make the server serve. */
export function servedBy(store: ObjectStore): ServedPredicate {
  return (type, version) => {
    if (type.definedBy === undefined) return true;
    const crd = store.get('CustomResourceDefinition', undefined, type.definedBy);
    if (crd === undefined || crd.metadata.deletionTimestamp !== undefined) return false;
    return asArray(asRecord(crd.spec).versions).some(
      (entry) => text(entry.name) === version && entry.served === true,
    );
  };
}
