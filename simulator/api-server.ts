/**
 * The simulated Kubernetes API server: HTTPS on 127.0.0.1 with a CA it generates and a
 * bearer token, serving discovery, CRUD, list/watch, server-side apply and the other
 * patch types, `pods/log` and `pods/exec` (WebSocket, v4/v5 channel protocol) the way
 * @kubernetes/client-node 2.x and kubectl expect, including the real error `Status`es.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import YAML from 'yaml';
import { createCertificateAuthority, issueCertificate } from '../harness/certs.ts';
import {
  ApiError,
  badRequestError,
  cloneObject,
  conflictError,
  formatLogTimestamp,
  groupVersion,
  invalidError,
  matchesFieldRequirements,
  matchesLabelRequirements,
  notFoundError,
  parseFieldSelector,
  parseLabelSelector,
  RESOURCE_TYPES,
  type ObjectStore,
  type ResourceType,
  type StatusCause,
  type StoreEvent,
} from './store.ts';
import type { ExecHandler, ExecResult, KubeObject } from './types.ts';

/** What the API server needs: the store it serves and the mesh model that answers exec. */
export interface ApiServerOptions {
  store: ObjectStore;
  execHandler: ExecHandler;
  /** Bearer token clients must send; random unless given. */
  token?: string;
  /** `gitVersion` of `/version`. */
  kubernetesVersion?: string;
}

/** A running simulated API server. */
export interface SimulatedApiServer {
  /** `https://127.0.0.1:<port>`. */
  url: string;
  port: number;
  token: string;
  /** PEM of the CA that issued the serving certificate (the kubeconfig's certificate-authority-data). */
  caPem: string;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

const MAX_BODY_BYTES = 16 * 1024 * 1024;
const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
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
/** Fields of an object no field manager owns. */
const UNOWNED_PATHS = new Set([
  'apiVersion',
  'kind',
  'status',
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'metadata.resourceVersion',
  'metadata.generation',
  'metadata.creationTimestamp',
  'metadata.deletionTimestamp',
  'metadata.managedFields',
  'metadata.selfLink',
]);

/** Starts the server on a free port of 127.0.0.1. */
export async function startApiServer(options: ApiServerOptions): Promise<SimulatedApiServer> {
  const ca = createCertificateAuthority({ commonName: 'kubernetes' });
  const serving = issueCertificate(ca, {
    commonName: 'kube-apiserver',
    dnsNames: [
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ],
    ipAddresses: ['127.0.0.1', '10.96.0.1'],
  });
  const token = options.token ?? randomBytes(24).toString('hex');
  const api = new ApiHandler(
    options.store,
    options.execHandler,
    options.kubernetesVersion ?? 'v1.36.1',
  );
  const server = https.createServer(
    { key: serving.keyPem, cert: serving.certPem },
    (request, response) => {
      if (!authorized(request, token)) {
        sendJson(response, 401, unauthorizedStatus());
        return;
      }
      api.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) sendJson(response, 500, internalError(error).toStatus());
        else response.destroy();
      });
    },
  );
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    if (!authorized(request, token)) {
      rejectUpgrade(socket, 401, unauthorizedStatus());
      return;
    }
    api.upgrade(request, socket, head);
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    token,
    caPem: ca.certPem,
    async close() {
      api.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function authorized(request: IncomingMessage, token: string): boolean {
  return request.headers.authorization === `Bearer ${token}`;
}

function unauthorizedStatus(): Json {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'Unauthorized',
    reason: 'Unauthorized',
    code: 401,
  };
}

function internalError(error: unknown): ApiError {
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, {
    causes: [{ reason: '', message }],
  });
}

function sendJson(response: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  response.end(text);
}

function rejectUpgrade(socket: Socket, code: number, body: Json): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

function notFoundPath(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource');
}

function isRecord(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function asRecord(value: unknown): Json {
  return isRecord(value) ? value : {};
}

function asArray(value: unknown): Json[] {
  return Array.isArray(value) ? value.map(asRecord) : [];
}

/** A scalar JSON value as text; anything else as `fallback`. */
function text(value: unknown, fallback = ''): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : fallback;
}

// ---------------------------------------------------------------------------------------
// Routing.

interface ResourceRequest {
  type: ResourceType;
  version: string;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

type Route =
  | { kind: 'discovery-root' }
  | { kind: 'discovery-groups' }
  | { kind: 'discovery-resources'; group: string; version: string }
  | { kind: 'resource'; resource: ResourceRequest };

function routeFor(pathname: string): Route | undefined {
  const segments = pathname
    .split('/')
    .filter((segment) => segment.length > 0)
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === 'api') {
    if (segments.length === 1) return { kind: 'discovery-root' };
    group = '';
    version = segments[1] ?? '';
    rest = segments.slice(2);
  } else if (segments[0] === 'apis') {
    if (segments.length === 1) return { kind: 'discovery-groups' };
    if (segments.length === 2) return undefined;
    group = segments[1] ?? '';
    version = segments[2] ?? '';
    rest = segments.slice(3);
  } else {
    return undefined;
  }
  const served = RESOURCE_TYPES.filter(
    (type) => type.group === group && type.versions.includes(version),
  );
  if (served.length === 0) return undefined;
  if (rest.length === 0) return { kind: 'discovery-resources', group, version };
  const byPlural = (plural: string | undefined): ResourceType | undefined =>
    served.find((type) => type.plural === plural);
  const resource = (
    type: ResourceType | undefined,
    namespace: string | undefined,
    name: string | undefined,
    subresource: string | undefined,
  ): Route | undefined =>
    type === undefined
      ? undefined
      : { kind: 'resource', resource: { type, version, namespace, name, subresource } };
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const namespaced = byPlural(rest[2]);
    if (namespaced?.namespaced === true && rest.length <= 5)
      return resource(namespaced, rest[1], rest[3], rest[4]);
    // /api/v1/namespaces/{name}/status|finalize
    if (group === '' && rest.length === 3)
      return resource(byPlural('namespaces'), undefined, rest[1], rest[2]);
    return undefined;
  }
  if (rest.length > 3) return undefined;
  return resource(byPlural(rest[0]), undefined, rest[1], rest[2]);
}

// ---------------------------------------------------------------------------------------
// The handler.

class ApiHandler {
  readonly #store: ObjectStore;
  readonly #exec: ExecHandler;
  readonly #version: string;
  readonly #closers = new Set<() => void>();
  readonly #wss: WebSocketServer;

  constructor(store: ObjectStore, exec: ExecHandler, version: string) {
    this.#store = store;
    this.#exec = exec;
    this.#version = version;
    this.#wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) =>
        EXEC_PROTOCOLS.find((protocol) => protocols.has(protocol)) ?? false,
    });
  }

  close(): void {
    for (const close of [...this.#closers]) close();
    for (const client of this.#wss.clients) client.terminate();
    this.#wss.close();
  }

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'https://127.0.0.1');
    const method = request.method ?? 'GET';
    try {
      if (['/healthz', '/livez', '/readyz'].includes(url.pathname)) {
        response.writeHead(200, { 'Content-Type': 'text/plain' });
        response.end('ok');
        return;
      }
      if (url.pathname === '/version') {
        sendJson(response, 200, this.#versionInfo());
        return;
      }
      const route = routeFor(url.pathname);
      if (route === undefined) throw notFoundPath();
      if (route.kind !== 'resource') {
        if (method !== 'GET')
          throw new ApiError(
            405,
            'MethodNotAllowed',
            `the server does not allow this method on the requested resource`,
          );
        sendJson(response, 200, discovery(route));
        return;
      }
      const body = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)
        ? await readBody(request)
        : '';
      const resource = route.resource;
      if (resource.subresource === 'log' && resource.type.kind === 'Pod' && method === 'GET') {
        this.#log(resource, url.searchParams, response);
        return;
      }
      if (resource.subresource === 'exec' && resource.type.kind === 'Pod') {
        throw badRequestError('Upgrade request required');
      }
      if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
        if (method !== 'GET' || resource.name !== undefined) throw notFoundPath();
        this.#watch(resource, url.searchParams, request, response);
        return;
      }
      const { code, object } = this.#dispatch(
        method,
        resource,
        url.searchParams,
        body,
        request.headers,
      );
      sendJson(response, code, object);
    } catch (error) {
      const apiError = error instanceof ApiError ? error : internalError(error);
      sendJson(response, apiError.code, apiError.toStatus());
    }
  }

  #versionInfo(): Json {
    const [major, minor] = this.#version.replace(/^v/, '').split('.');
    return {
      major,
      minor,
      emulationMajor: major,
      emulationMinor: minor,
      minCompatibilityMajor: major,
      minCompatibilityMinor: String(Number(minor) - 1),
      gitVersion: this.#version,
      gitCommit: '0000000000000000000000000000000000000000',
      gitTreeState: 'clean',
      buildDate: '2026-05-15T00:00:00Z',
      goVersion: 'go1.25.9',
      compiler: 'gc',
      platform: 'linux/amd64',
    };
  }

  #dispatch(
    method: string,
    resource: ResourceRequest,
    query: URLSearchParams,
    body: string,
    headers: IncomingMessage['headers'],
  ): { code: number; object: unknown } {
    const { type, name, subresource } = resource;
    const dryRun = query.getAll('dryRun').includes('All');
    if (subresource !== undefined && !['status', 'finalize'].includes(subresource))
      throw notFoundPath();
    if (!type.stored) {
      if (method !== 'POST' || type.kind !== 'SelfSubjectAccessReview') throw notFoundPath();
      const review = asRecord(parseBody(body, headers['content-type']));
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
        throw new ApiError(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        );
      }
      switch (method) {
        case 'GET':
          return { code: 200, object: this.#list(resource, query) };
        case 'POST':
          return { code: 201, object: this.#create(resource, query, body, headers, dryRun) };
        case 'DELETE':
          return { code: 200, object: this.#deleteCollection(resource, query, dryRun) };
        default:
          throw new ApiError(
            405,
            'MethodNotAllowed',
            'the server does not allow this method on the requested resource',
          );
      }
    }
    if (type.namespaced && resource.namespace === undefined) throw notFoundPath();
    switch (method) {
      case 'GET':
        return { code: 200, object: this.#versioned(this.#existing(resource), resource) };
      case 'PUT':
        return { code: 200, object: this.#replace(resource, query, body, headers, dryRun) };
      case 'PATCH':
        return this.#patch(resource, query, body, headers, dryRun);
      case 'DELETE':
        return { code: 200, object: this.#delete(resource, dryRun) };
      default:
        throw new ApiError(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        );
    }
  }

  #existing(resource: ResourceRequest): KubeObject {
    const object = this.#store.get(resource.type.kind, resource.namespace, resource.name ?? '');
    if (object === undefined) throw notFoundError(resource.type, resource.name ?? '');
    return object;
  }

  /** The object as served at the requested version. */
  #versioned(object: KubeObject, resource: ResourceRequest): KubeObject {
    return { ...object, apiVersion: groupVersion(resource.type.group, resource.version) };
  }

  #list(resource: ResourceRequest, query: URLSearchParams): Json {
    const { type } = resource;
    const items = this.#store.list(type.kind, {
      ...(resource.namespace === undefined ? {} : { namespace: resource.namespace }),
      ...(query.get('labelSelector') ? { labelSelector: query.get('labelSelector') ?? '' } : {}),
      ...(query.get('fieldSelector') ? { fieldSelector: query.get('fieldSelector') ?? '' } : {}),
    });
    return {
      kind: `${type.kind}List`,
      apiVersion: groupVersion(type.group, resource.version),
      metadata: { resourceVersion: this.#store.resourceVersion() },
      // Built-in lists carry no apiVersion/kind per item; custom resource lists do.
      items: items.map((item) => {
        if (type.custom) return this.#versioned(item, resource);
        const { apiVersion: _apiVersion, kind: _kind, ...rest } = item;
        return rest;
      }),
    };
  }

  #watch(
    resource: ResourceRequest,
    query: URLSearchParams,
    request: IncomingMessage,
    response: ServerResponse,
  ): void {
    const { type } = resource;
    const labelSelector = query.get('labelSelector') ?? '';
    const fieldSelector = query.get('fieldSelector') ?? '';
    const labels = parseLabelSelector(labelSelector);
    const fields = parseFieldSelector(fieldSelector);
    const matches = (object: KubeObject): boolean =>
      object.kind === type.kind &&
      (resource.namespace === undefined || object.metadata.namespace === resource.namespace) &&
      matchesLabelRequirements(labels, object.metadata.labels) &&
      matchesFieldRequirements(fields, object);
    response.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // Clients (client-node's Watch) wait for the headers before reading events.
    response.flushHeaders();
    const write = (event: StoreEvent['type'], object: KubeObject): void => {
      response.write(
        `${JSON.stringify({ type: event, object: this.#versioned(object, resource) })}\n`,
      );
    };
    // Without a resourceVersion a watch starts with the current state as ADDED events;
    // with one, it starts now (this store keeps no event history to replay).
    const since = query.get('resourceVersion');
    if (since === null || since === '' || since === '0') {
      for (const object of this.#store.list(
        type.kind,
        resource.namespace === undefined ? {} : { namespace: resource.namespace },
      )) {
        if (matches(object)) write('ADDED', object);
      }
    }
    const unsubscribe = this.#store.watch((change) => {
      if (matches(change.object)) write(change.type, change.object);
    });
    const close = (): void => {
      unsubscribe();
      clearTimeout(timer);
      this.#closers.delete(close);
      if (!response.writableEnded) response.end();
    };
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '1800');
    const timer = setTimeout(close, Math.max(1, timeoutSeconds) * 1000);
    this.#closers.add(close);
    request.on('close', close);
  }

  // ------------------------------------------------------------------ writes

  #incomingObject(
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

  #create(
    resource: ResourceRequest,
    query: URLSearchParams,
    body: string,
    headers: IncomingMessage['headers'],
    dryRun: boolean,
  ): KubeObject {
    const { type } = resource;
    const object = this.#incomingObject(resource, body, headers['content-type'], 'create');
    if (
      !object.metadata.name &&
      typeof object.metadata.generateName === 'string' &&
      object.metadata.generateName !== ''
    ) {
      object.metadata.name = `${object.metadata.generateName}${this.#store.randomSuffix(5)}`;
    }
    validateObject(type, object);
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
      this.#store.now(),
    );
    return this.#versioned(this.#store.create(fresh, { dryRun }), resource);
  }

  #replace(
    resource: ResourceRequest,
    query: URLSearchParams,
    body: string,
    headers: IncomingMessage['headers'],
    dryRun: boolean,
  ): KubeObject {
    const { type } = resource;
    const existing = this.#existing(resource);
    const incoming = this.#incomingObject(resource, body, headers['content-type'], 'update');
    if (type.custom && !incoming.metadata.resourceVersion) {
      throw invalidError(type, resource.name ?? '', [
        {
          reason: 'FieldValueInvalid',
          message: 'Invalid value: 0x0: must be specified for an update',
          field: 'metadata.resourceVersion',
        },
      ]);
    }
    const next = this.#merged(existing, incoming, resource.subresource);
    return this.#write(
      resource,
      existing,
      next,
      this.#updateOwnership(existing, next, query, headers),
      dryRun,
    );
  }

  /** Puts together the stored object after a write: main-resource writes keep status, status writes keep the rest. */
  #merged(existing: KubeObject, incoming: KubeObject, subresource: string | undefined): KubeObject {
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
    const type = RESOURCE_TYPES.find((candidate) => candidate.kind === existing.kind);
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
  #write(
    resource: ResourceRequest,
    existing: KubeObject,
    next: KubeObject,
    managedFields: unknown[],
    dryRun: boolean,
  ): KubeObject {
    validateObject(resource.type, next);
    if (resource.type.kind === 'Pod' && resource.subresource === undefined)
      checkPodUpdate(existing, next);
    next.metadata.managedFields = managedFields;
    if (next.metadata.resourceVersion === undefined || next.metadata.resourceVersion === '') {
      next.metadata.resourceVersion = existing.metadata.resourceVersion;
    }
    return this.#versioned(this.#store.update(next, { dryRun }), resource);
  }

  #updateOwnership(
    existing: KubeObject,
    next: KubeObject,
    query: URLSearchParams,
    headers: IncomingMessage['headers'],
  ): unknown[] {
    return recordUpdate(
      parseManagedFields(existing.metadata.managedFields),
      existing,
      next,
      managerOf(query, headers),
      next.apiVersion,
      this.#store.now(),
    );
  }

  #patch(
    resource: ResourceRequest,
    query: URLSearchParams,
    body: string,
    headers: IncomingMessage['headers'],
    dryRun: boolean,
  ): { code: number; object: KubeObject } {
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
    if (apply) return this.#apply(resource, query, body, headers, dryRun);

    const existing = this.#existing(resource);
    let patch: unknown;
    try {
      patch = JSON.parse(body);
    } catch (error) {
      throw badRequestError(
        `error decoding patch: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const current = this.#versioned(cloneObject(existing), resource);
    let patched: unknown;
    if (contentType === 'application/json-patch+json') {
      if (!Array.isArray(patch))
        throw badRequestError(
          'json: cannot unmarshal object into Go value of type jsonpatch.Patch',
        );
      patched = applyJsonPatch(current, patch);
    } else {
      // Strategic merge patch on built-in kinds: the list merge keys are not modelled,
      // which only matters for patches that touch lists.
      if (!isRecord(patch))
        throw badRequestError('the object provided is unrecognized (must be a JSON object)');
      patched = applyMergePatch(current, patch);
    }
    if (!isRecord(patched)) throw badRequestError('the patch did not produce an object');
    const incoming = this.#incomingObject(
      resource,
      JSON.stringify(patched),
      'application/json',
      'update',
    );
    const next = this.#merged(existing, incoming, resource.subresource);
    if (resource.subresource === undefined)
      next.metadata.resourceVersion = asRecord(asRecord(patch).metadata).resourceVersion as
        string | undefined;
    return {
      code: 200,
      object: this.#write(
        resource,
        existing,
        next,
        this.#updateOwnership(existing, next, query, headers),
        dryRun,
      ),
    };
  }

  #apply(
    resource: ResourceRequest,
    query: URLSearchParams,
    body: string,
    headers: IncomingMessage['headers'],
    dryRun: boolean,
  ): { code: number; object: KubeObject } {
    const { type } = resource;
    const intent = this.#incomingObject(resource, body, 'application/yaml', 'apply');
    if (Array.isArray(intent.metadata.managedFields) && intent.metadata.managedFields.length > 0) {
      throw badRequestError('metadata.managedFields must be nil');
    }
    delete intent.metadata.managedFields;
    const manager = query.get('fieldManager') ?? '';
    const force = query.get('force') === 'true';
    const existing = this.#store.get(type.kind, resource.namespace, resource.name ?? '');
    const applied = new Set(ownedLeafPaths(intent, resource.subresource === 'status'));
    if (existing === undefined) {
      if (resource.subresource !== undefined) throw notFoundError(type, resource.name ?? '');
      const fresh = cloneObject(intent);
      if (type.hasStatus) delete fresh.status;
      validateObject(type, fresh);
      fresh.metadata.managedFields = recordApply(
        [],
        applied,
        manager,
        fresh.apiVersion,
        this.#store.now(),
      );
      return {
        code: 201,
        object: this.#versioned(this.#store.create(fresh, { dryRun }), resource),
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
    const next = this.#versioned(cloneObject(existing), resource) as Json;
    // Fields this manager applied before and no longer applies are removed, unless
    // someone else also owns them: that is what makes apply declarative.
    for (const path of previouslyApplied) {
      if (!applied.has(path) && !ownedByOthers.has(path)) deleteAt(next, path);
    }
    const merged = mergeIntent(next, intent, !type.custom) as KubeObject;
    merged.apiVersion = intent.apiVersion;
    const result = this.#merged(existing, merged, resource.subresource);
    result.metadata.resourceVersion = existing.metadata.resourceVersion;
    const ownership = recordApply(managed, applied, manager, result.apiVersion, this.#store.now());
    return { code: 200, object: this.#write(resource, existing, result, ownership, dryRun) };
  }

  #delete(resource: ResourceRequest, dryRun: boolean): unknown {
    const { type } = resource;
    const result = this.#store.delete(type.kind, resource.namespace, resource.name ?? '', {
      dryRun,
    });
    if (type.returnsDeletedObject || !result.removed) {
      const object = this.#versioned(cloneObject(result.object), resource);
      if (object.metadata.deletionTimestamp === undefined) {
        object.metadata.deletionTimestamp = new Date(this.#store.now())
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

  #deleteCollection(resource: ResourceRequest, query: URLSearchParams, dryRun: boolean): Json {
    const list = this.#list(resource, query);
    for (const item of asArray(list.items)) {
      const metadata = asRecord(item.metadata);
      try {
        this.#store.delete(
          resource.type.kind,
          metadata.namespace as string | undefined,
          text(metadata.name),
          { dryRun },
        );
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 404)) throw error;
      }
    }
    return list;
  }

  // ------------------------------------------------------------------ pods/log

  #log(resource: ResourceRequest, query: URLSearchParams, response: ServerResponse): void {
    const pod = this.#existing(resource);
    const container = resolveContainer(pod, query.get('container') ?? '');
    if (query.get('previous') === 'true') {
      throw badRequestError(
        `previous terminated container "${container}" in pod "${pod.metadata.name}" not found`,
      );
    }
    requireStarted(pod, container, 'log');
    let entries = [
      ...this.#store.logs.read(pod.metadata.namespace ?? '', pod.metadata.name, container),
    ];
    const sinceTime = query.get('sinceTime');
    const sinceSeconds = query.get('sinceSeconds');
    if (sinceTime !== null && sinceTime !== '') {
      const parsed = Date.parse(sinceTime);
      if (Number.isNaN(parsed))
        throw badRequestError(
          `parsing time "${sinceTime}" as "2006-01-02T15:04:05Z07:00": cannot parse`,
        );
      // The API server forwards sinceTime to the kubelet at one-second precision: lines
      // from earlier in the same second are returned too, as on a real cluster.
      const since = Math.floor(parsed / 1000) * 1000;
      entries = entries.filter((entry) => entry.time >= since);
    } else if (sinceSeconds !== null && sinceSeconds !== '') {
      const since = this.#store.now() - Number(sinceSeconds) * 1000;
      entries = entries.filter((entry) => entry.time >= since);
    }
    const tailLines = query.get('tailLines');
    if (tailLines !== null && tailLines !== '')
      entries = entries.slice(Math.max(0, entries.length - Number(tailLines)));
    const timestamps = query.get('timestamps') === 'true';
    let text = entries
      .map((entry) => `${timestamps ? `${formatLogTimestamp(entry)} ` : ''}${entry.text}\n`)
      .join('');
    const limitBytes = Number(query.get('limitBytes') ?? '0');
    if (limitBytes > 0) text = Buffer.from(text).subarray(0, limitBytes).toString();
    response.writeHead(200, {
      'Content-Type': 'text/plain',
      'Content-Length': Buffer.byteLength(text),
    });
    response.end(text);
  }

  // ------------------------------------------------------------------ pods/exec

  upgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'https://127.0.0.1');
    try {
      const route = routeFor(url.pathname);
      if (
        route?.kind !== 'resource' ||
        route.resource.type.kind !== 'Pod' ||
        route.resource.subresource !== 'exec'
      ) {
        throw notFoundPath();
      }
      const pod = this.#existing(route.resource);
      const query = url.searchParams;
      const container = resolveContainer(pod, query.get('container') ?? '');
      requireStarted(pod, container, 'exec');
      const command = query.getAll('command');
      if (command.length === 0) throw badRequestError('you must specify at least 1 command');
      const offered = text(request.headers['sec-websocket-protocol'], '')
        .split(',')
        .map((protocol) => protocol.trim());
      if (!EXEC_PROTOCOLS.some((protocol) => offered.includes(protocol))) {
        throw badRequestError(
          `unable to upgrade connection: none of the offered subprotocols (${offered.join(', ')}) is supported; want one of ${EXEC_PROTOCOLS.join(', ')}`,
        );
      }
      const streams = {
        stdout: query.get('stdout') === 'true' || query.get('stdout') === '1',
        stderr: query.get('stderr') === 'true' || query.get('stderr') === '1',
        tty: query.get('tty') === 'true' || query.get('tty') === '1',
      };
      this.#wss.handleUpgrade(request, socket, head, (ws) => {
        void this.#runExec(ws, pod, container, command, streams);
      });
    } catch (error) {
      const apiError = error instanceof ApiError ? error : internalError(error);
      rejectUpgrade(socket, apiError.code, apiError.toStatus());
    }
  }

  async #runExec(
    ws: WebSocket,
    pod: KubeObject,
    container: string,
    command: string[],
    streams: { stdout: boolean; stderr: boolean; tty: boolean },
  ): Promise<void> {
    const aborted = new AbortController();
    ws.on('close', () => aborted.abort());
    // stdin frames (channel 0) and resize frames (4) are accepted and ignored: the
    // simulated commands read no input.
    ws.on('message', () => undefined);
    let result: ExecResult | undefined;
    let failure: unknown;
    try {
      result = await this.#exec.exec({
        namespace: pod.metadata.namespace ?? 'default',
        pod,
        container,
        command,
        signal: aborted.signal,
      });
    } catch (error) {
      failure = error;
    }
    if (ws.readyState !== ws.OPEN) return;
    const send = (channel: number, text: string): void => {
      if (text.length === 0) return;
      ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(text)]));
    };
    let status: Json;
    if (result === undefined) {
      const message = failure instanceof Error ? failure.message : String(failure);
      status = {
        metadata: {},
        status: 'Failure',
        message,
        reason: 'InternalError',
        details: { causes: [{ message }] },
        code: 500,
      };
    } else {
      if (streams.tty) {
        if (streams.stdout) send(1, result.stdout + result.stderr);
      } else {
        if (streams.stdout) send(1, result.stdout);
        if (streams.stderr) send(2, result.stderr);
      }
      status =
        result.exitCode === 0
          ? { metadata: {}, status: 'Success' }
          : {
              metadata: {},
              status: 'Failure',
              message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${result.exitCode}`,
              reason: 'NonZeroExitCode',
              details: { causes: [{ reason: 'ExitCode', message: String(result.exitCode) }] },
            };
    }
    ws.send(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify(status))]));
    ws.close(1000);
  }
}

// ---------------------------------------------------------------------------------------
// Discovery.

function discovery(route: Exclude<Route, { kind: 'resource' }>): Json {
  if (route.kind === 'discovery-root') {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '172.18.0.2:6443' }],
    };
  }
  if (route.kind === 'discovery-groups') {
    const groups = new Map<string, string[]>();
    for (const type of RESOURCE_TYPES) {
      if (type.group === '') continue;
      const versions = groups.get(type.group) ?? [];
      for (const version of type.versions) if (!versions.includes(version)) versions.push(version);
      groups.set(type.group, versions);
    }
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, versions]) => ({
        name,
        versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
        preferredVersion: {
          groupVersion: `${name}/${versions[0] ?? 'v1'}`,
          version: versions[0] ?? 'v1',
        },
      })),
    };
  }
  const resources: Json[] = [];
  for (const type of RESOURCE_TYPES) {
    if (type.group !== route.group || !type.versions.includes(route.version)) continue;
    resources.push({
      name: type.plural,
      singularName: type.singular,
      namespaced: type.namespaced,
      kind: type.kind,
      verbs: type.verbs,
      ...(type.shortNames === undefined || type.shortNames.length === 0
        ? {}
        : { shortNames: type.shortNames }),
      ...(type.categories === undefined ? {} : { categories: type.categories }),
    });
    const sub = (name: string, kind: string, verbs: string[]): void => {
      resources.push({
        name: `${type.plural}/${name}`,
        singularName: '',
        namespaced: type.namespaced,
        kind,
        verbs,
      });
    };
    if (type.hasStatus) sub('status', type.kind, ['get', 'patch', 'update']);
    if (type.kind === 'Pod') {
      sub('exec', 'PodExecOptions', ['create', 'get']);
      sub('log', 'Pod', ['get']);
    }
    if (type.kind === 'Namespace') sub('finalize', 'Namespace', ['update']);
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion(route.group, route.version),
    resources,
  };
}

// ---------------------------------------------------------------------------------------
// Bodies.

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES)
      throw new ApiError(
        413,
        'RequestEntityTooLarge',
        'Request entity too large: limit is 3145728',
      );
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseBody(body: string, contentType: string | undefined): unknown {
  const type = (contentType ?? 'application/json').split(';')[0]?.trim() ?? '';
  try {
    if (type.includes('yaml')) return YAML.parse(body) as unknown;
    return JSON.parse(body) as unknown;
  } catch (error) {
    throw badRequestError(
      `couldn't get version/kind; json parse error: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

function truncate(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

function checkStringMaps(type: ResourceType, metadata: Json, object: Json): void {
  const check = (value: unknown, field: string, goType: string): void => {
    if (value === undefined || value === null) return;
    if (!isRecord(value))
      throw badRequestError(
        `json: cannot unmarshal ${describeJson(value)} into Go struct field ${goType} of type map[string]string`,
      );
    for (const [key, entry] of Object.entries(value)) {
      if (typeof entry !== 'string') {
        throw badRequestError(
          `json: cannot unmarshal ${describeJson(entry)} into Go struct field ${goType}.${field}.${key} of type string`,
        );
      }
    }
  };
  check(metadata.labels, 'metadata.labels', 'ObjectMeta');
  check(metadata.annotations, 'metadata.annotations', 'ObjectMeta');
  if (type.kind === 'ConfigMap') check(object.data, 'data', 'ConfigMap');
}

function describeJson(value: unknown): string {
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'bool';
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'object' : 'string';
}

function managerOf(query: URLSearchParams, headers: IncomingMessage['headers']): string {
  const explicit = query.get('fieldManager');
  if (explicit) return explicit;
  // What the API server does without fieldManager: the user agent up to the first '/'.
  const agent = text(headers['user-agent'], '').split('/')[0]?.trim() ?? '';
  return agent === '' ? 'unknown' : agent;
}

// ---------------------------------------------------------------------------------------
// Containers.

function containerNames(pod: KubeObject, list: 'containers' | 'initContainers'): string[] {
  return asArray(asRecord(pod.spec)[list]).map((container) => String(container.name));
}

function resolveContainer(pod: KubeObject, requested: string): string {
  const containers = containerNames(pod, 'containers');
  const initContainers = containerNames(pod, 'initContainers');
  if (requested === '') {
    // kubectl picks `kubectl.kubernetes.io/default-container` client-side; the API server does not.
    if (containers.length === 1) return containers[0] ?? '';
    let message = `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${containers.join(' ')}]`;
    if (initContainers.length > 0)
      message += ` or one of the init containers: [${initContainers.join(' ')}]`;
    throw badRequestError(message);
  }
  if (!containers.includes(requested) && !initContainers.includes(requested)) {
    throw badRequestError(`container ${requested} is not valid for pod ${pod.metadata.name}`);
  }
  return requested;
}

function requireStarted(pod: KubeObject, container: string, purpose: 'log' | 'exec'): void {
  const status = asRecord(pod.status);
  const phase = text(status.phase, 'Pending');
  if (purpose === 'exec' && (phase === 'Succeeded' || phase === 'Failed')) {
    throw badRequestError(
      `cannot exec into a container in a completed pod; current phase is ${phase}`,
    );
  }
  const statuses = [...asArray(status.containerStatuses), ...asArray(status.initContainerStatuses)];
  const state = asRecord(statuses.find((candidate) => candidate.name === container)?.state);
  if (purpose === 'exec') {
    if (state.running === undefined)
      throw badRequestError(`unable to upgrade connection: container not found ("${container}")`);
    return;
  }
  if (state.running === undefined && state.terminated === undefined) {
    const reason = text(asRecord(state.waiting).reason, 'ContainerCreating');
    throw badRequestError(
      `container "${container}" in pod "${pod.metadata.name}" is waiting to start: ${reason}`,
    );
  }
}

// ---------------------------------------------------------------------------------------
// Validation: the subset of the real validation and the Istio CRD schemas the suites can trip over.

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RFC1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function nameCauses(type: ResourceType, name: string): StatusCause[] {
  if (name === '') {
    return [
      {
        reason: 'FieldValueRequired',
        message: 'Required value: name or generateName is required',
        field: 'metadata.name',
      },
    ];
  }
  const invalid = (why: string): StatusCause[] => [
    {
      reason: 'FieldValueInvalid',
      message: `Invalid value: "${name}": ${why}`,
      field: 'metadata.name',
    },
  ];
  switch (type.nameRule) {
    case 'subdomain':
      if (name.length > 253) return invalid('must be no more than 253 characters');
      if (!SUBDOMAIN.test(name)) {
        return invalid(
          "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        );
      }
      return [];
    case 'rfc1123-label':
      if (name.length > 63) return invalid('must be no more than 63 characters');
      if (!RFC1123_LABEL.test(name)) {
        return invalid(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        );
      }
      return [];
    case 'rfc1035-label':
      if (name.length > 63) return invalid('must be no more than 63 characters');
      if (!RFC1035_LABEL.test(name)) {
        return invalid(
          "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        );
      }
      return [];
  }
}

class Causes {
  readonly list: StatusCause[] = [];
  required(field: string): void {
    this.list.push({ reason: 'FieldValueRequired', message: 'Required value', field });
  }
  invalid(field: string, value: unknown, why: string): void {
    this.list.push({
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${JSON.stringify(value)}: ${why}`,
      field,
    });
  }
  type(field: string, value: unknown, expected: string): void {
    this.list.push({
      reason: 'FieldValueTypeInvalid',
      message: `Invalid value: "${describeSchemaType(value)}": ${field} in body must be of type ${expected}: "${describeSchemaType(value)}"`,
      field,
    });
  }
  unsupported(field: string, value: unknown, supported: string[]): void {
    this.list.push({
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((entry) => `"${entry}"`).join(', ')}`,
      field,
    });
  }
  /** A required, non-empty array of strings (Istio `hosts`). */
  hosts(field: string, value: unknown): void {
    if (value === undefined || value === null) return this.required(field);
    if (!Array.isArray(value)) return this.type(field, value, 'array');
    if (value.length === 0)
      return this.invalid(field, 0, `${field} in body should have at least 1 items`);
    value.forEach((entry, index) => {
      if (typeof entry !== 'string') this.type(`${field}[${index}]`, entry, 'string');
    });
  }
  optionalArray(field: string, value: unknown): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.type(field, value, 'array');
      return [];
    }
    return value as unknown[];
  }
  optionalObject(field: string, value: unknown): Json {
    if (value === undefined || value === null) return {};
    if (!isRecord(value)) {
      this.type(field, value, 'object');
      return {};
    }
    return value;
  }
  enumValue(field: string, value: unknown, supported: string[]): void {
    if (value === undefined || value === null) return;
    if (typeof value !== 'string' || !supported.includes(value))
      this.unsupported(field, value, supported);
  }
}

function describeSchemaType(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

const TLS_MODES_GATEWAY = [
  'PASSTHROUGH',
  'SIMPLE',
  'MUTUAL',
  'AUTO_PASSTHROUGH',
  'ISTIO_MUTUAL',
  'OPTIONAL_MUTUAL',
];
const TLS_MODES_CLIENT = ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'];

function validateObject(type: ResourceType, object: KubeObject): void {
  const causes = new Causes();
  causes.list.push(...nameCauses(type, object.metadata.name));
  for (const value of Object.values(object.metadata.labels ?? {})) {
    if (value.length > 63 || !LABEL_VALUE.test(value)) {
      causes.invalid(
        'metadata.labels',
        value,
        `a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
      );
    }
  }
  const specValue = object.spec;
  if (specValue !== undefined && !isRecord(specValue)) causes.type('spec', specValue, 'object');
  const spec = asRecord(specValue);
  switch (type.kind) {
    case 'Pod':
      validatePodSpec(causes, 'spec', spec);
      break;
    case 'Deployment':
    case 'ReplicaSet': {
      const selector = spec.selector;
      if (!isRecord(selector)) causes.required('spec.selector');
      const template = asRecord(spec.template);
      const labels = asRecord(asRecord(template.metadata).labels);
      const matchLabels = asRecord(asRecord(selector).matchLabels);
      if (
        isRecord(selector) &&
        Object.entries(matchLabels).some(([key, value]) => labels[key] !== value)
      ) {
        causes.list.push({
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${goMap(labels)}: \`selector\` does not match template \`labels\``,
          field: 'spec.template.metadata.labels',
        });
      }
      validatePodSpec(causes, 'spec.template.spec', asRecord(template.spec));
      break;
    }
    case 'Service': {
      const ports = asArray(spec.ports);
      const headless = spec.clusterIP === 'None' || spec.type === 'ExternalName';
      if (ports.length === 0 && !headless) causes.required('spec.ports');
      ports.forEach((port, index) => {
        if (typeof port.port !== 'number') causes.required(`spec.ports[${index}].port`);
        else if (port.port < 1 || port.port > 65535)
          causes.invalid(
            `spec.ports[${index}].port`,
            port.port,
            'must be between 1 and 65535, inclusive',
          );
        if (ports.length > 1 && (port.name === undefined || port.name === ''))
          causes.required(`spec.ports[${index}].name`);
      });
      causes.enumValue('spec.type', spec.type, [
        'ClusterIP',
        'ExternalName',
        'LoadBalancer',
        'NodePort',
      ]);
      break;
    }
    case 'NetworkPolicy': {
      const types = Array.isArray(spec.policyTypes) ? (spec.policyTypes as unknown[]) : [];
      types.forEach((value, index) =>
        causes.enumValue(`spec.policyTypes[${index}]`, value, ['Egress', 'Ingress']),
      );
      for (const direction of ['ingress', 'egress'] as const) {
        asArray(spec[direction]).forEach((rule, ruleIndex) => {
          asArray(rule.ports).forEach((port, portIndex) =>
            causes.enumValue(
              `spec.${direction}[${ruleIndex}].ports[${portIndex}].protocol`,
              port.protocol,
              ['SCTP', 'TCP', 'UDP'],
            ),
          );
        });
      }
      break;
    }
    case 'VirtualService':
      causes.hosts('spec.hosts', spec.hosts);
      causes.optionalArray('spec.gateways', spec.gateways).forEach((gateway, index) => {
        if (typeof gateway !== 'string') causes.type(`spec.gateways[${index}]`, gateway, 'string');
      });
      for (const section of ['http', 'tls', 'tcp'] as const)
        causes.optionalArray(`spec.${section}`, spec[section]);
      break;
    case 'Gateway': {
      causes.optionalObject('spec.selector', spec.selector);
      const servers = causes.optionalArray('spec.servers', spec.servers);
      servers.forEach((server, index) => {
        const field = `spec.servers[${index}]`;
        if (!isRecord(server)) return causes.type(field, server, 'object');
        const port = server.port;
        if (!isRecord(port)) causes.required(`${field}.port`);
        else {
          if (port.number === undefined) causes.required(`${field}.port.number`);
          else if (typeof port.number !== 'number' || !Number.isInteger(port.number))
            causes.type(`${field}.port.number`, port.number, 'integer');
          if (port.protocol === undefined) causes.required(`${field}.port.protocol`);
          else if (typeof port.protocol !== 'string')
            causes.type(`${field}.port.protocol`, port.protocol, 'string');
        }
        causes.hosts(`${field}.hosts`, server.hosts);
        causes.enumValue(`${field}.tls.mode`, asRecord(server.tls).mode, TLS_MODES_GATEWAY);
      });
      break;
    }
    case 'DestinationRule': {
      if (spec.host === undefined || spec.host === '') causes.required('spec.host');
      else if (typeof spec.host !== 'string') causes.type('spec.host', spec.host, 'string');
      const checkPolicy = (field: string, policy: unknown): void => {
        const record = causes.optionalObject(field, policy);
        causes.enumValue(`${field}.tls.mode`, asRecord(record.tls).mode, TLS_MODES_CLIENT);
        asArray(record.portLevelSettings).forEach((setting, index) =>
          causes.enumValue(
            `${field}.portLevelSettings[${index}].tls.mode`,
            asRecord(setting.tls).mode,
            TLS_MODES_CLIENT,
          ),
        );
      };
      checkPolicy('spec.trafficPolicy', spec.trafficPolicy);
      causes.optionalArray('spec.subsets', spec.subsets).forEach((subset, index) => {
        if (!isRecord(subset) || typeof subset.name !== 'string' || subset.name === '')
          causes.required(`spec.subsets[${index}].name`);
        else checkPolicy(`spec.subsets[${index}].trafficPolicy`, subset.trafficPolicy);
      });
      break;
    }
    case 'ServiceEntry':
      causes.hosts('spec.hosts', spec.hosts);
      causes.optionalArray('spec.ports', spec.ports).forEach((port, index) => {
        const record = asRecord(port);
        if (record.number === undefined) causes.required(`spec.ports[${index}].number`);
        if (record.protocol !== undefined && typeof record.protocol !== 'string')
          causes.type(`spec.ports[${index}].protocol`, record.protocol, 'string');
      });
      causes.enumValue('spec.resolution', spec.resolution, [
        'NONE',
        'STATIC',
        'DNS',
        'DNS_ROUND_ROBIN',
      ]);
      causes.enumValue('spec.location', spec.location, ['MESH_EXTERNAL', 'MESH_INTERNAL']);
      break;
    default:
      break;
  }
  if (causes.list.length > 0) throw invalidError(type, object.metadata.name, causes.list);
}

function validatePodSpec(causes: Causes, field: string, spec: Json): void {
  const containers = asArray(spec.containers);
  if (containers.length === 0) causes.required(`${field}.containers`);
  containers.forEach((container, index) => {
    if (typeof container.name !== 'string' || container.name === '')
      causes.required(`${field}.containers[${index}].name`);
    if (typeof container.image !== 'string' || container.image === '')
      causes.required(`${field}.containers[${index}].image`);
  });
}

function goMap(map: Json): string {
  return `map[string]string{${Object.entries(map)
    .map(([key, value]) => `"${key}":"${String(value as string)}"`)
    .join(', ')}}`;
}

// ---------------------------------------------------------------------------------------
// Patches.

/** RFC 7386 JSON merge patch. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return cloneObject(patch);
  const result: Json = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw jsonPatchError(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function jsonPatchError(message: string): ApiError {
  return new ApiError(
    422,
    'Invalid',
    `the server rejected our request due to an error in our request: ${message}`,
  );
}

/** RFC 6902 JSON patch; failures are 422 as on the real API server. */
export function applyJsonPatch(document: unknown, operations: unknown[]): unknown {
  let root: unknown = cloneObject(document);
  const parentOf = (path: string[], op: string): { parent: Json | unknown[]; key: string } => {
    let current: unknown = root;
    for (const token of path.slice(0, -1)) {
      if (Array.isArray(current)) current = current[Number(token)];
      else if (isRecord(current)) current = current[token];
      else current = undefined;
      if (current === undefined)
        throw jsonPatchError(
          `${op} operation does not apply: doc is missing path: "/${path.join('/')}"`,
        );
    }
    if (!Array.isArray(current) && !isRecord(current))
      throw jsonPatchError(
        `${op} operation does not apply: doc is missing path: "/${path.join('/')}"`,
      );
    return { parent: current, key: path.at(-1) ?? '' };
  };
  const get = (path: string[], op: string): unknown => {
    if (path.length === 0) return root;
    const { parent, key } = parentOf(path, op);
    const value = Array.isArray(parent) ? parent[Number(key)] : parent[key];
    if (value === undefined)
      throw jsonPatchError(
        `${op} operation does not apply: doc is missing key: /${path.join('/')}`,
      );
    return value;
  };
  const remove = (path: string[], op: string): unknown => {
    const value = get(path, op);
    const { parent, key } = parentOf(path, op);
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
    return value;
  };
  const add = (path: string[], value: unknown, op: string): void => {
    if (path.length === 0) {
      root = value;
      return;
    }
    const { parent, key } = parentOf(path, op);
    if (Array.isArray(parent)) {
      const index = key === '-' ? parent.length : Number(key);
      if (!Number.isInteger(index) || index < 0 || index > parent.length)
        throw jsonPatchError(`${op} operation does not apply: index out of bounds: ${key}`);
      parent.splice(index, 0, value);
    } else {
      parent[key] = value;
    }
  };
  for (const raw of operations) {
    const operation = asRecord(raw);
    const op = text(operation.op, '');
    const path = decodePointer(text(operation.path, ''));
    switch (op) {
      case 'add':
        add(path, cloneObject(operation.value), op);
        break;
      case 'remove':
        remove(path, op);
        break;
      case 'replace':
        get(path, op);
        if (path.length === 0) root = cloneObject(operation.value);
        else {
          const { parent, key } = parentOf(path, op);
          if (Array.isArray(parent)) parent[Number(key)] = cloneObject(operation.value);
          else parent[key] = cloneObject(operation.value);
        }
        break;
      case 'move':
        add(path, remove(decodePointer(text(operation.from, '')), op), op);
        break;
      case 'copy':
        add(path, cloneObject(get(decodePointer(text(operation.from, '')), op)), op);
        break;
      case 'test':
        if (!sameValue(get(path, op), operation.value))
          throw jsonPatchError(`testing value /${path.join('/')} failed: test failed`);
        break;
      default:
        throw badRequestError(`Unexpected kind: ${op}`);
    }
  }
  return root;
}

/** Server-side apply's merge of an applied configuration: maps merge, lists and scalars are replaced. */
function mergeIntent(target: unknown, intent: unknown, keyedLists: boolean): unknown {
  if (keyedLists && isNamedList(target) && isNamedList(intent)) {
    // Built-in list-maps (containers, volumes, env, ports) merge by name, so that what
    // admission added (defaults, an injected sidecar) survives a re-apply. Custom
    // resources' lists are atomic, as Istio's CRDs declare them.
    const result = target.map((item) => {
      const applied = intent.find((candidate) => candidate.name === item.name);
      return applied === undefined ? item : (mergeIntent(item, applied, keyedLists) as Json);
    });
    for (const item of intent) {
      if (!target.some((existing) => existing.name === item.name)) result.push(cloneObject(item));
    }
    return result;
  }
  if (!isRecord(intent) || !isRecord(target)) return cloneObject(intent);
  const result: Json = { ...target };
  for (const [key, value] of Object.entries(intent)) {
    if (value === null) continue;
    result[key] = mergeIntent(result[key], value, keyedLists);
  }
  return result;
}

function isNamedList(value: unknown): value is (Json & { name: string })[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((item) => isRecord(item) && typeof item.name === 'string')
  );
}

/** Pod specs are immutable but for a few fields; the real message, without its diff. */
function checkPodUpdate(existing: KubeObject, next: KubeObject): void {
  const comparable = (spec: unknown): unknown => {
    const copy = cloneObject(asRecord(spec));
    for (const list of ['containers', 'initContainers']) {
      copy[list] = asArray(copy[list]).map((container) => ({ ...container, image: undefined }));
    }
    delete copy.activeDeadlineSeconds;
    delete copy.tolerations;
    delete copy.terminationGracePeriodSeconds;
    return copy;
  };
  if (sameValue(comparable(existing.spec), comparable(next.spec))) return;
  throw invalidError({ kind: 'Pod', group: '' }, next.metadata.name, [
    {
      reason: 'FieldValueForbidden',
      message:
        'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
      field: 'spec',
    },
  ]);
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (isRecord(value))
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical(value[key])]),
    );
  return value;
}

// ---------------------------------------------------------------------------------------
// Field ownership (metadata.managedFields).

interface ManagedEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  subresource?: string;
  paths: Set<string>;
}

// Paths are dotted field names joined by NUL, so that keys containing '.' (labels such
// as app.kubernetes.io/name) survive the round trip.
const SEPARATOR = '\u0000';

function ownedLeafPaths(object: unknown, includeStatus = false): string[] {
  const paths: string[] = [];
  const walk = (value: unknown, prefix: string[]): void => {
    const dotted = prefix.join('.');
    if (prefix.length > 0 && UNOWNED_PATHS.has(dotted) && !(includeStatus && dotted === 'status'))
      return;
    if (isRecord(value) && Object.keys(value).length > 0) {
      for (const [key, child] of Object.entries(value)) walk(child, [...prefix, key]);
      return;
    }
    if (prefix.length > 0 && value !== null && value !== undefined)
      paths.push(prefix.join(SEPARATOR));
  };
  walk(object, []);
  return paths;
}

function valueAt(object: unknown, path: string): unknown {
  let current: unknown = object;
  for (const segment of path.split(SEPARATOR)) {
    if (!isRecord(current)) return undefined;
    current = current[segment];
  }
  return current;
}

function deleteAt(object: Json, path: string): void {
  const segments = path.split(SEPARATOR);
  const parents: Json[] = [];
  let current: Json = object;
  for (const segment of segments.slice(0, -1)) {
    const next = current[segment];
    if (!isRecord(next)) return;
    parents.push(current);
    current = next;
  }
  delete current[segments.at(-1) ?? ''];
  // Maps emptied by the removal go too, as they would from an applied configuration.
  for (let index = segments.length - 2; index >= 0; index -= 1) {
    const parent = parents[index];
    const key = segments[index] ?? '';
    if (parent !== undefined && isRecord(parent[key]) && Object.keys(parent[key]).length === 0)
      delete parent[key];
    else break;
  }
}

function toFieldsV1(paths: Iterable<string>): Json {
  const root: Json = {};
  for (const path of paths) {
    let node = root;
    for (const segment of path.split(SEPARATOR)) {
      const key = `f:${segment}`;
      node[key] = asRecord(node[key]);
      node = node[key] as Json;
    }
  }
  return root;
}

function fromFieldsV1(fields: unknown): Set<string> {
  const paths = new Set<string>();
  const walk = (node: Json, prefix: string[]): void => {
    const children = Object.entries(node).filter(([key]) => key.startsWith('f:'));
    if (children.length === 0 && prefix.length > 0) paths.add(prefix.join(SEPARATOR));
    for (const [key, child] of children) walk(asRecord(child), [...prefix, key.slice(2)]);
  };
  walk(asRecord(fields), []);
  return paths;
}

function parseManagedFields(value: unknown): ManagedEntry[] {
  return asArray(value).map((entry) => ({
    manager: text(entry.manager, ''),
    operation: entry.operation === 'Apply' ? 'Apply' : 'Update',
    apiVersion: text(entry.apiVersion, ''),
    time: text(entry.time, ''),
    ...(typeof entry.subresource === 'string' ? { subresource: entry.subresource } : {}),
    paths: fromFieldsV1(entry.fieldsV1),
  }));
}

function managedToJson(entries: ManagedEntry[]): unknown[] {
  return entries
    .filter((entry) => entry.paths.size > 0)
    .map((entry) => ({
      manager: entry.manager,
      operation: entry.operation,
      apiVersion: entry.apiVersion,
      time: entry.time,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(entry.paths),
      ...(entry.subresource === undefined ? {} : { subresource: entry.subresource }),
    }));
}

function rfc3339(time: number): string {
  return new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function recordApply(
  managed: ManagedEntry[],
  applied: Set<string>,
  manager: string,
  apiVersion: string,
  now: number,
): unknown[] {
  const others = managed.filter(
    (entry) => !(entry.manager === manager && entry.operation === 'Apply'),
  );
  return managedToJson([
    ...others,
    { manager, operation: 'Apply', apiVersion, time: rfc3339(now), paths: applied },
  ]);
}

/** An Update takes ownership of every field it changed; others lose those fields, without conflicts. */
function recordUpdate(
  managed: ManagedEntry[],
  previous: KubeObject | undefined,
  next: KubeObject,
  manager: string,
  apiVersion: string,
  now: number,
): unknown[] {
  const operation = 'Update';
  const before = new Set(previous === undefined ? [] : ownedLeafPaths(previous));
  const after = ownedLeafPaths(next);
  const changed = new Set(
    after.filter(
      (path) => !before.has(path) || !sameValue(valueAt(previous, path), valueAt(next, path)),
    ),
  );
  const present = new Set(after);
  const entries = managed.map((entry) => ({
    ...entry,
    paths: new Set(
      [...entry.paths].filter(
        (path) => present.has(path) && !(changed.has(path) && entry.manager !== manager),
      ),
    ),
  }));
  if (changed.size > 0) {
    const mine = entries.find(
      (entry) => entry.manager === manager && entry.operation === operation,
    );
    if (mine === undefined)
      entries.push({ manager, operation, apiVersion, time: rfc3339(now), paths: changed });
    else {
      for (const path of changed) mine.paths.add(path);
      mine.time = rfc3339(now);
    }
  }
  return managedToJson(entries);
}

function applyConflict(
  type: ResourceType,
  name: string,
  conflicts: { manager: string; apiVersion: string; path: string }[],
): ApiError {
  const render = (path: string): string => `.${path.split(SEPARATOR).join('.')}`;
  const first = conflicts[0];
  const message =
    conflicts.length === 1 && first !== undefined
      ? `Apply failed with 1 conflict: conflict with "${first.manager}" using ${first.apiVersion}: ${render(first.path)}`
      : `Apply failed with ${conflicts.length} conflicts: ${conflicts
          .map(
            (conflict) =>
              `conflict with "${conflict.manager}" using ${conflict.apiVersion}: ${render(conflict.path)}`,
          )
          .join('\n')}`;
  return new ApiError(409, 'Conflict', message, {
    name,
    ...(type.group === '' ? {} : { group: type.group }),
    kind: type.plural,
    causes: conflicts.map((conflict) => ({
      reason: 'FieldManagerConflict',
      message: `conflict with "${conflict.manager}" using ${conflict.apiVersion}`,
      field: render(conflict.path),
    })),
  });
}
