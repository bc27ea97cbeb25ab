/** PATCH in its four content types; server-side apply is the one that tracks field ownership. */
import { asRecord, isRecord, sameValue, type Json } from '../json.ts';
import {
  ApiError,
  badRequestError,
  conflictError,
  invalidError,
  notFoundError,
  type StatusCause,
} from '../store/errors.ts';
import { cloneObject } from '../store/object-store.ts';
import type { KubeObject } from '../types.ts';
import {
  applyConflict,
  deleteAt,
  ownedLeafPaths,
  parseManagedFields,
  recordApply,
  valueAt,
} from './managed-fields.ts';
import {
  existingObject,
  incomingObject,
  mergedObject,
  updateOwnership,
  versioned,
  writeObject,
  type ResourceCall,
} from './objects.ts';
import { applyJsonPatch, applyMergePatch, mergeIntent } from './patch-documents.ts';
import { checkPatchedFields } from './field-validation.ts';
import { applyStrategicMergePatch } from './strategic-merge.ts';
import { validateObject } from './validation.ts';
import { runValidatingWebhooks } from './webhooks.ts';

const CR_PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/apply-patch+yaml',
];
const BUILTIN_PATCH_TYPES = [
  ...CR_PATCH_TYPES.slice(0, 2),
  'application/strategic-merge-patch+json',
  CR_PATCH_TYPES[2] ?? '',
];

/** Applies a PATCH of any accepted content type to the addressed object. */
export function patchObject(call: ResourceCall): { code: number; object: KubeObject } {
  const { resource, query, body, headers } = call;
  const { type } = resource;
  const contentType = (headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  const accepted = type.custom ? CR_PATCH_TYPES : BUILTIN_PATCH_TYPES;
  if (!accepted.includes(contentType)) {
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
    );
  }
  const apply = contentType === 'application/apply-patch+yaml';
  const causes: StatusCause[] = [];
  if (apply && !query.get('fieldManager')) {
    causes.push({
      reason: 'FieldValueRequired',
      message: 'Required value: is required for apply patch',
      field: 'fieldManager',
    });
  }
  if (!apply && query.has('force')) {
    causes.push({
      reason: 'FieldValueForbidden',
      message: 'Forbidden: may not be specified for non-apply patch',
      field: 'force',
    });
  }
  if (causes.length > 0)
    throw invalidError({ kind: 'PatchOptions', group: 'meta.k8s.io' }, '', causes);
  if (apply) return applyObject(call);

  const existing = existingObject(call.store, resource);
  let patch: unknown;
  try {
    patch = JSON.parse(body);
  } catch (error) {
    throw badRequestError(
      `error decoding patch: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const current = versioned(cloneObject(existing), resource);
  let patched: unknown;
  if (contentType === 'application/json-patch+json') {
    if (!Array.isArray(patch))
      throw badRequestError('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
    patched = applyJsonPatch(current, patch);
  } else {
    if (!isRecord(patch))
      throw badRequestError('the object provided is unrecognized (must be a JSON object)');
    patched =
      contentType === 'application/strategic-merge-patch+json'
        ? applyStrategicMergePatch(current, patch)
        : applyMergePatch(current, patch);
  }
  if (!isRecord(patched)) throw badRequestError('the patch did not produce an object');
  checkPatchedFields(call, patched);
  const incoming = incomingObject(resource, JSON.stringify(patched), 'application/json', 'update');
  const next = mergedObject(existing, incoming, resource.subresource);
  if (resource.subresource === undefined)
    next.metadata.resourceVersion = asRecord(asRecord(patch).metadata).resourceVersion as
      string | undefined;
  return {
    code: 200,
    object: writeObject(call, existing, next, updateOwnership(call, existing, next)),
  };
}

function applyObject(call: ResourceCall): { code: number; object: KubeObject } {
  const { store, resource, query } = call;
  const { type } = resource;
  const intent = incomingObject(resource, call.body, 'application/yaml', 'apply');
  if (Array.isArray(intent.metadata.managedFields) && intent.metadata.managedFields.length > 0) {
    throw badRequestError('metadata.managedFields must be nil');
  }
  delete intent.metadata.managedFields;
  const manager = query.get('fieldManager') ?? '';
  const force = query.get('force') === 'true';
  const existing = store.get(type.key, resource.namespace, resource.name ?? '');
  const applied = new Set(ownedLeafPaths(intent, resource.subresource === 'status'));
  if (existing === undefined) {
    if (resource.subresource !== undefined) throw notFoundError(type, resource.name ?? '');
    const fresh = cloneObject(intent);
    if (type.hasStatus) delete fresh.status;
    validateObject(type, fresh, call.kubernetesMinor);
    runValidatingWebhooks(call, fresh);
    fresh.metadata.managedFields = recordApply([], applied, manager, fresh.apiVersion, store.now());
    return {
      code: 201,
      object: versioned(store.create(fresh, { dryRun: call.dryRun }), resource),
    };
  }
  if (
    intent.metadata.resourceVersion !== undefined &&
    intent.metadata.resourceVersion !== existing.metadata.resourceVersion
  ) {
    throw conflictError(
      type,
      resource.name ?? '',
      'the object has been modified; please apply your changes to the latest version and try again',
    );
  }
  const managed = parseManagedFields(existing.metadata.managedFields);
  const conflicts: { manager: string; apiVersion: string; path: string }[] = [];
  for (const entry of managed) {
    if (entry.manager === manager && entry.operation === 'Apply') continue;
    for (const path of entry.paths) {
      if (applied.has(path) && !sameValue(valueAt(existing, path), valueAt(intent, path))) {
        conflicts.push({ manager: entry.manager, apiVersion: entry.apiVersion, path });
      }
    }
  }
  if (conflicts.length > 0 && !force) throw applyConflict(type, resource.name ?? '', conflicts);
  for (const entry of managed) {
    if (entry.manager === manager && entry.operation === 'Apply') continue;
    for (const conflict of conflicts)
      if (conflict.manager === entry.manager) entry.paths.delete(conflict.path);
  }
  const previouslyApplied =
    managed.find((entry) => entry.manager === manager && entry.operation === 'Apply')?.paths ??
    new Set<string>();
  const ownedByOthers = new Set(
    managed
      .filter((entry) => !(entry.manager === manager && entry.operation === 'Apply'))
      .flatMap((entry) => [...entry.paths]),
  );
  const next = versioned(cloneObject(existing), resource) as Json;
  // Fields this manager applied before and no longer applies are removed, unless
  // someone else also owns them: that is what makes apply declarative.
  for (const path of previouslyApplied) {
    if (!applied.has(path) && !ownedByOthers.has(path)) deleteAt(next, path);
  }
  const merged = mergeIntent(next, intent, !type.custom) as KubeObject;
  merged.apiVersion = intent.apiVersion;
  const result = mergedObject(existing, merged, resource.subresource);
  result.metadata.resourceVersion = existing.metadata.resourceVersion;
  const ownership = recordApply(managed, applied, manager, result.apiVersion, store.now());
  return { code: 200, object: writeObject(call, existing, result, ownership) };
}
