/** The verbs on a stored kind, answered with the codes and bodies the real API server sends. */
import { asArray, asRecord, text, type Json } from '../json.ts';
import { ApiError, invalidError } from '../store/errors.ts';
import { cloneObject, type ObjectStore } from '../store/object-store.ts';
import { groupVersion } from '../store/resource-types.ts';
import type { KubeObject } from '../types.ts';
import { parseBody } from './bodies.ts';
import { evictPod } from './eviction.ts';
import { managerOf, recordUpdate } from './managed-fields.ts';
import {
  existingObject,
  incomingObject,
  mergedObject,
  updateOwnership,
  versioned,
  writeObject,
  type ResourceCall,
} from './objects.ts';
import { patchObject } from './patch.ts';
import type { ResourceRequest } from './routes.ts';
import { methodNotAllowed, notFoundPath } from './responses.ts';
import { validateObject } from './validation.ts';
import { runValidatingWebhooks } from './webhooks.ts';

/** Runs a non-watch request on a resource path; the code and body to answer with. */
export function dispatch(method: string, call: ResourceCall): { code: number; object: unknown } {
  const { resource } = call;
  const { type, name, subresource } = resource;
  if (subresource === 'eviction' && type.kind === 'Pod' && name !== undefined) {
    if (method !== 'POST') throw methodNotAllowed();
    return evictPod(call);
  }
  if (subresource !== undefined && !['status', 'finalize'].includes(subresource))
    throw notFoundPath();
  if (!type.stored) {
    if (method !== 'POST' || type.kind !== 'SelfSubjectAccessReview') throw notFoundPath();
    const review = asRecord(parseBody(call.body, call.headers['content-type']));
    return {
      code: 201,
      object: {
        ...review,
        apiVersion: groupVersion(type.group, resource.version),
        kind: type.kind,
        metadata: { ...asRecord(review.metadata), creationTimestamp: null },
        status: { allowed: true, reason: 'the simulated cluster allows everything' },
      },
    };
  }
  if (name === undefined) {
    if (type.namespaced && resource.namespace === undefined && method !== 'GET') {
      // Namespaced kinds are listed across namespaces but written only inside one.
      throw methodNotAllowed();
    }
    switch (method) {
      case 'GET':
        return { code: 200, object: listObjects(call.store, resource, call.query) };
      case 'POST':
        return { code: 201, object: createObject(call) };
      case 'DELETE':
        return { code: 200, object: deleteCollection(call) };
      default:
        throw methodNotAllowed();
    }
  }
  if (type.namespaced && resource.namespace === undefined) throw notFoundPath();
  switch (method) {
    case 'GET':
      return { code: 200, object: versioned(existingObject(call.store, resource), resource) };
    case 'PUT':
      return { code: 200, object: replaceObject(call) };
    case 'PATCH':
      return patchObject(call);
    case 'DELETE':
      return { code: 200, object: deleteObject(call) };
    default:
      throw methodNotAllowed();
  }
}

function listObjects(store: ObjectStore, resource: ResourceRequest, query: URLSearchParams): Json {
  const { type } = resource;
  const items = store.list(type.key, {
    ...(resource.namespace === undefined ? {} : { namespace: resource.namespace }),
    ...(query.get('labelSelector') ? { labelSelector: query.get('labelSelector') ?? '' } : {}),
    ...(query.get('fieldSelector') ? { fieldSelector: query.get('fieldSelector') ?? '' } : {}),
  });
  return {
    kind: `${type.kind}List`,
    apiVersion: groupVersion(type.group, resource.version),
    metadata: { resourceVersion: store.resourceVersion() },
    // Built-in lists carry no apiVersion/kind per item; custom resource lists do.
    items: items.map((item) => {
      if (type.custom) return versioned(item, resource);
      const { apiVersion: _apiVersion, kind: _kind, ...rest } = item;
      return rest;
    }),
  };
}

function createObject(call: ResourceCall): KubeObject {
  const { store, resource, query, headers } = call;
  const { type } = resource;
  const object = incomingObject(resource, call.body, headers['content-type'], 'create');
  if (
    !object.metadata.name &&
    typeof object.metadata.generateName === 'string' &&
    object.metadata.generateName !== ''
  ) {
    object.metadata.name = `${object.metadata.generateName}${store.randomSuffix(5)}`;
  }
  validateObject(type, object, call.kubernetesMinor);
  runValidatingWebhooks(call, object);
  const {
    uid: _uid,
    resourceVersion: _rv,
    creationTimestamp: _ct,
    deletionTimestamp: _dt,
    generation: _g,
    managedFields: _mf,
    ...metadata
  } = object.metadata;
  const fresh: KubeObject = { ...object, metadata: { ...metadata, name: object.metadata.name } };
  if (type.hasStatus) delete fresh.status;
  fresh.metadata.managedFields = recordUpdate(
    [],
    undefined,
    fresh,
    managerOf(query, headers),
    fresh.apiVersion,
    store.now(),
  );
  return versioned(store.create(fresh, { dryRun: call.dryRun }), resource);
}

function replaceObject(call: ResourceCall): KubeObject {
  const { resource } = call;
  const { type } = resource;
  const existing = existingObject(call.store, resource);
  const incoming = incomingObject(resource, call.body, call.headers['content-type'], 'update');
  if (type.custom && !incoming.metadata.resourceVersion) {
    throw invalidError(type, resource.name ?? '', [
      {
        reason: 'FieldValueInvalid',
        message: 'Invalid value: 0x0: must be specified for an update',
        field: 'metadata.resourceVersion',
      },
    ]);
  }
  const next = mergedObject(existing, incoming, resource.subresource);
  return writeObject(call, existing, next, updateOwnership(call, existing, next));
}

function deleteObject(call: ResourceCall): unknown {
  const { store, resource } = call;
  const { type } = resource;
  const result = store.delete(type.key, resource.namespace, resource.name ?? '', {
    dryRun: call.dryRun,
  });
  if (type.returnsDeletedObject || !result.removed) {
    const object = versioned(cloneObject(result.object), resource);
    if (object.metadata.deletionTimestamp === undefined) {
      object.metadata.deletionTimestamp = new Date(store.now())
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z');
      if (type.kind === 'Pod') object.metadata.deletionGracePeriodSeconds = 30;
    }
    return object;
  }
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: {
      name: resource.name,
      ...(type.group === '' ? {} : { group: type.group }),
      kind: type.plural,
      uid: result.object.metadata.uid,
    },
  };
}

function deleteCollection(call: ResourceCall): Json {
  const { store, resource } = call;
  const list = listObjects(store, resource, call.query);
  for (const item of asArray(list.items)) {
    const metadata = asRecord(item.metadata);
    try {
      store.delete(
        resource.type.key,
        metadata.namespace as string | undefined,
        text(metadata.name),
        {
          dryRun: call.dryRun,
        },
      );
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 404)) throw error;
    }
  }
  return list;
}
