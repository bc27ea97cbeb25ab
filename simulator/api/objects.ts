/** What every write does whatever its verb: decode, merge onto the stored object, validate. */
import type { IncomingHttpHeaders } from 'node:http';
import { asRecord, isRecord, text } from '../json.ts';
import { badRequestError, notFoundError } from '../store/errors.ts';
import { cloneObject, type ObjectStore } from '../store/object-store.ts';
import { groupVersion, typeOfObject } from '../store/resource-types.ts';
import type { KubeObject } from '../types.ts';
import { checkStringMaps, parseBody, truncate } from './bodies.ts';
import { pruneUnknownFields } from './field-validation.ts';
import { managerOf, parseManagedFields, recordUpdate } from './managed-fields.ts';
import type { ResourceRequest } from './routes.ts';
import { checkPodUpdate, validateObject } from './validation.ts';
import { runValidatingWebhooks } from './webhooks.ts';

/** One request against a stored kind, as the verbs' handlers need it. */
export interface ResourceCall {
  store: ObjectStore;
  resource: ResourceRequest;
  query: URLSearchParams;
  body: string;
  headers: IncomingHttpHeaders;
  /** `?dryRun=All`: validate and answer, store nothing. */
  dryRun: boolean;
  /** Minor of the served Kubernetes version (how validation errors print). */
  kubernetesMinor: number;
  /** Warnings for the response's `Warning` headers (admission webhooks add them). */
  warnings: string[];
}

export function existingObject(store: ObjectStore, resource: ResourceRequest): KubeObject {
  const object = store.get(resource.type.key, resource.namespace, resource.name ?? '');
  if (object === undefined) throw notFoundError(resource.type, resource.name ?? '');
  return object;
}

/** The object as served at the requested version. */
export function versioned(object: KubeObject, resource: ResourceRequest): KubeObject {
  return { ...object, apiVersion: groupVersion(resource.type.group, resource.version) };
}

/** The body as an object of the addressed kind, namespace and name, at the storage version. */
export function incomingObject(
  resource: ResourceRequest,
  body: string,
  contentType: string | undefined,
  verb: 'create' | 'update' | 'apply',
): KubeObject {
  const { type } = resource;
  const parsed = parseBody(body, contentType);
  if (!isRecord(parsed))
    throw badRequestError(`the object provided is unrecognized (must be of type ${type.kind})`);
  const expected = groupVersion(type.group, resource.version);
  if (parsed.kind === undefined || parsed.kind === '') {
    if (type.custom || verb === 'apply')
      throw badRequestError(`Object 'Kind' is missing in '${truncate(body)}'`);
    parsed.kind = type.kind;
  }
  if (parsed.apiVersion === undefined || parsed.apiVersion === '') {
    if (type.custom || verb === 'apply')
      throw badRequestError(`Object 'apiVersion' is missing in '${truncate(body)}'`);
    parsed.apiVersion = expected;
  }
  if (parsed.apiVersion !== expected) {
    throw badRequestError(
      `the API version in the data (${String(parsed.apiVersion)}) does not match the expected API version (${expected})`,
    );
  }
  if (parsed.kind !== type.kind) {
    throw badRequestError(
      `the kind in the data (${String(parsed.kind)}) does not match the expected kind (${type.kind})`,
    );
  }
  pruneUnknownFields(type, parsed);
  const metadata = isRecord(parsed.metadata) ? { ...parsed.metadata } : {};
  if (type.namespaced) {
    if (
      metadata.namespace !== undefined &&
      metadata.namespace !== '' &&
      metadata.namespace !== resource.namespace
    ) {
      throw badRequestError(
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    metadata.namespace = resource.namespace;
  } else {
    delete metadata.namespace;
  }
  if (
    resource.name !== undefined &&
    metadata.name !== undefined &&
    metadata.name !== resource.name
  ) {
    throw badRequestError(
      `the name of the object (${text(metadata.name)}) does not match the name on the URL (${resource.name})`,
    );
  }
  if (resource.name !== undefined && metadata.name === undefined) metadata.name = resource.name;
  checkStringMaps(type, metadata, parsed);
  // Stored at the storage version; the served version is only a view of it.
  return {
    ...(parsed as KubeObject),
    apiVersion: groupVersion(type.group, type.versions[0] ?? resource.version),
    metadata: metadata as KubeObject['metadata'],
  };
}

/** Puts together the stored object after a write: main-resource writes keep status, status writes keep the rest. */
export function mergedObject(
  existing: KubeObject,
  incoming: KubeObject,
  subresource: string | undefined,
): KubeObject {
  const next = cloneObject(incoming);
  next.metadata = {
    ...next.metadata,
    uid: existing.metadata.uid,
    creationTimestamp: existing.metadata.creationTimestamp,
  };
  if (subresource === 'status') {
    return {
      ...cloneObject(existing),
      status: next.status,
      metadata: {
        ...cloneObject(existing.metadata),
        resourceVersion: next.metadata.resourceVersion,
      },
    };
  }
  if (subresource === 'finalize') {
    return {
      ...cloneObject(existing),
      spec: { ...asRecord(existing.spec), finalizers: asRecord(next.spec).finalizers },
    };
  }
  const type = typeOfObject(existing);
  if (type?.hasStatus === true) {
    if (existing.status === undefined) delete next.status;
    else next.status = cloneObject(existing.status);
  }
  if (existing.kind === 'Namespace') {
    // As the namespace strategy does: only the finalize subresource changes finalizers.
    next.spec = { ...asRecord(next.spec), finalizers: asRecord(existing.spec).finalizers ?? [] };
  }
  return next;
}

/** Validates and stores `next` over `existing`, with the field ownership the write results in. */
export function writeObject(
  call: ResourceCall,
  existing: KubeObject,
  next: KubeObject,
  managedFields: unknown[],
): KubeObject {
  const { resource } = call;
  validateObject(resource.type, next, call.kubernetesMinor);
  if (resource.type.kind === 'Pod' && resource.subresource === undefined)
    checkPodUpdate(existing, next);
  runValidatingWebhooks(call, next);
  next.metadata.managedFields = managedFields;
  if (next.metadata.resourceVersion === undefined || next.metadata.resourceVersion === '') {
    next.metadata.resourceVersion = existing.metadata.resourceVersion;
  }
  return versioned(call.store.update(next, { dryRun: call.dryRun }), resource);
}

/** The `managedFields` after an update (PUT or a non-apply patch) from `existing` to `next`. */
export function updateOwnership(
  call: ResourceCall,
  existing: KubeObject,
  next: KubeObject,
): unknown[] {
  return recordUpdate(
    parseManagedFields(existing.metadata.managedFields),
    existing,
    next,
    managerOf(call.query, call.headers),
    next.apiVersion,
    call.store.now(),
  );
}
