/**
 * The simulated cluster's etcd: an in-memory object store with the metadata bookkeeping
 * of the real API server, label and field selectors, container logs, and a history per
 * object so that the data plane (the mesh model) sees configuration only after a
 * propagation delay, as Envoy sees it only after an xDS push.
 */
import { randomUUID } from 'node:crypto';
import type { ClusterView, KubeObject, LogSink } from './types.ts';

// ---------------------------------------------------------------------------------------
// The kinds the simulated API server serves.

/** How the API server serves one kind: its REST names, scope and behaviour on writes. */
export interface ResourceType {
  kind: string;
  plural: string;
  singular: string;
  /** API group, '' for the core group. */
  group: string;
  /** Served versions, the preferred (and storage) version first. */
  versions: readonly string[];
  namespaced: boolean;
  /** Served from a CustomResourceDefinition: no strategic merge patch, typed list items. */
  custom: boolean;
  /** Configuration the data plane reads: visible in `viewAt` only after the propagation delay. */
  config: boolean;
  /** DELETE answers with the object (as pods, services do) instead of a `Status`. */
  returnsDeletedObject: boolean;
  /** `status` is a subresource: writes to the main resource keep the stored status. */
  hasStatus: boolean;
  /** Whether metadata.generation is maintained. */
  hasGeneration: boolean;
  nameRule: 'subdomain' | 'rfc1123-label' | 'rfc1035-label';
  verbs: readonly string[];
  shortNames?: readonly string[];
  categories?: readonly string[];
  /** False for request-only kinds such as SelfSubjectAccessReview. */
  stored: boolean;
}

const ALL_VERBS = [
  'create',
  'delete',
  'deletecollection',
  'get',
  'list',
  'patch',
  'update',
  'watch',
];
const ISTIO_NETWORKING_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'];
const ISTIO_SECURITY_VERSIONS = ['v1', 'v1beta1'];

function builtin(
  kind: string,
  plural: string,
  group: string,
  fields: Partial<ResourceType> = {},
): ResourceType {
  return {
    kind,
    plural,
    singular: kind.toLowerCase(),
    group,
    versions: ['v1'],
    namespaced: true,
    custom: false,
    config: false,
    returnsDeletedObject: false,
    hasStatus: false,
    hasGeneration: false,
    nameRule: 'subdomain',
    verbs: ALL_VERBS,
    stored: true,
    ...fields,
  };
}

function istio(kind: string, plural: string, group: string, shortNames: string[]): ResourceType {
  return builtin(kind, plural, group, {
    versions: group === 'security.istio.io' ? ISTIO_SECURITY_VERSIONS : ISTIO_NETWORKING_VERSIONS,
    custom: true,
    config: true,
    hasStatus: true,
    hasGeneration: true,
    shortNames,
    categories:
      group === 'security.istio.io'
        ? ['istio-io', 'security-istio-io']
        : ['istio-io', 'networking-istio-io'],
  });
}

/** Every kind the simulated API server knows, in discovery order. */
export const RESOURCE_TYPES: readonly ResourceType[] = [
  builtin('Namespace', 'namespaces', '', {
    namespaced: false,
    config: true,
    returnsDeletedObject: true,
    hasStatus: true,
    nameRule: 'rfc1123-label',
    shortNames: ['ns'],
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  }),
  builtin('Node', 'nodes', '', { namespaced: false, hasStatus: true, shortNames: ['no'] }),
  builtin('Pod', 'pods', '', {
    returnsDeletedObject: true,
    hasStatus: true,
    hasGeneration: true,
    shortNames: ['po'],
    categories: ['all'],
  }),
  builtin('Service', 'services', '', {
    returnsDeletedObject: true,
    hasStatus: true,
    nameRule: 'rfc1035-label',
    shortNames: ['svc'],
    categories: ['all'],
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  }),
  builtin('ServiceAccount', 'serviceaccounts', '', {
    returnsDeletedObject: true,
    shortNames: ['sa'],
  }),
  builtin('ConfigMap', 'configmaps', '', { config: true, shortNames: ['cm'] }),
  builtin('Secret', 'secrets', ''),
  builtin('Event', 'events', '', { shortNames: ['ev'] }),
  builtin('Deployment', 'deployments', 'apps', {
    hasStatus: true,
    hasGeneration: true,
    shortNames: ['deploy'],
    categories: ['all'],
  }),
  builtin('ReplicaSet', 'replicasets', 'apps', {
    hasStatus: true,
    hasGeneration: true,
    shortNames: ['rs'],
    categories: ['all'],
  }),
  builtin('NetworkPolicy', 'networkpolicies', 'networking.k8s.io', {
    config: true,
    hasGeneration: true,
    shortNames: ['netpol'],
  }),
  istio('ServiceEntry', 'serviceentries', 'networking.istio.io', ['se']),
  istio('Gateway', 'gateways', 'networking.istio.io', ['gw']),
  istio('VirtualService', 'virtualservices', 'networking.istio.io', ['vs']),
  istio('DestinationRule', 'destinationrules', 'networking.istio.io', ['dr']),
  istio('Sidecar', 'sidecars', 'networking.istio.io', []),
  istio('PeerAuthentication', 'peerauthentications', 'security.istio.io', ['pa']),
  istio('AuthorizationPolicy', 'authorizationpolicies', 'security.istio.io', ['ap']),
  builtin('SelfSubjectAccessReview', 'selfsubjectaccessreviews', 'authorization.k8s.io', {
    namespaced: false,
    verbs: ['create'],
    stored: false,
  }),
];

const TYPES_BY_KIND = new Map(RESOURCE_TYPES.map((type) => [type.kind, type]));

/** The type serving `kind`, if the simulated API server knows it. */
export function resourceTypeForKind(kind: string): ResourceType | undefined {
  return TYPES_BY_KIND.get(kind);
}

function requireType(kind: string): ResourceType {
  const type = TYPES_BY_KIND.get(kind);
  if (type === undefined || !type.stored)
    throw new Error(`the simulated store has no kind ${kind}`);
  return type;
}

/** `pods`, `deployments.apps`: how NotFound/AlreadyExists messages name a resource. */
export function qualifiedResource(type: ResourceType): string {
  return type.group === '' ? type.plural : `${type.plural}.${type.group}`;
}

/** `Pod`, `Deployment.apps`: how Invalid messages name a kind. */
export function qualifiedKind(type: ResourceType): string {
  return type.group === '' ? type.kind : `${type.kind}.${type.group}`;
}

/** `apps/v1`, `v1`. */
export function groupVersion(group: string, version: string): string {
  return group === '' ? version : `${group}/${version}`;
}

// ---------------------------------------------------------------------------------------
// Errors, shaped as the API server's `Status` answers.

/** One entry of `Status.details.causes`. */
export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

/** `Status.details`. */
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
}

/** A failure the API server reports as a `Status` object with `code` and `reason`. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;
  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  /** The `Status` body the real API server would send. */
  toStatus(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      details: this.details ?? {},
      code: this.code,
    };
  }
}

function resourceDetails(type: ResourceType, name: string): StatusDetails {
  return type.group === ''
    ? { name, kind: type.plural }
    : { name, group: type.group, kind: type.plural };
}

/** 404 `<resource> "name" not found`. */
export function notFoundError(type: ResourceType, name: string): ApiError {
  return new ApiError(
    404,
    'NotFound',
    `${qualifiedResource(type)} "${name}" not found`,
    resourceDetails(type, name),
  );
}

/** 409 `<resource> "name" already exists`. */
export function alreadyExistsError(type: ResourceType, name: string): ApiError {
  return new ApiError(
    409,
    'AlreadyExists',
    `${qualifiedResource(type)} "${name}" already exists`,
    resourceDetails(type, name),
  );
}

/** 409 Conflict on a stale resourceVersion. */
export function conflictError(type: ResourceType, name: string, why: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(type)} "${name}": ${why}`,
    resourceDetails(type, name),
  );
}

/** 403 `<resource> "name" is forbidden: why`. */
export function forbiddenError(
  type: ResourceType,
  name: string,
  why: string,
  causes?: StatusCause[],
): ApiError {
  return new ApiError(
    403,
    'Forbidden',
    `${qualifiedResource(type)} "${name}" is forbidden: ${why}`,
    {
      ...resourceDetails(type, name),
      ...(causes === undefined ? {} : { causes }),
    },
  );
}

/** 422 `<Kind> "name" is invalid: <causes>`, with the causes in the details. */
export function invalidError(
  kind: { kind: string; group: string },
  name: string,
  causes: StatusCause[],
): ApiError {
  const rendered = causes.map((cause) =>
    cause.field === undefined ? cause.message : `${cause.field}: ${cause.message}`,
  );
  const list = rendered.length === 1 ? (rendered[0] ?? '') : `[${rendered.join(', ')}]`;
  const qualified = kind.group === '' ? kind.kind : `${kind.kind}.${kind.group}`;
  return new ApiError(422, 'Invalid', `${qualified} "${name}" is invalid: ${list}`, {
    name,
    ...(kind.group === '' ? {} : { group: kind.group }),
    kind: kind.kind,
    causes,
  });
}

/** 400 BadRequest with a free-form message. */
export function badRequestError(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

// ---------------------------------------------------------------------------------------
// Label and field selectors.

/** One parsed requirement of a label selector string. */
export interface LabelRequirement {
  key: string;
  operator: '=' | '!=' | 'in' | 'notin' | 'exists' | '!';
  values: string[];
}

/**
 * Parses a label selector as `kubectl -l` and `?labelSelector=` accept it: `a=b`, `a==b`,
 * `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, joined by commas.
 */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  const requirements: LabelRequirement[] = [];
  let rest = selector.trim();
  const fail = (why: string): never => {
    throw badRequestError(`unable to parse requirement: ${why} in label selector "${selector}"`);
  };
  while (rest.length > 0) {
    let match: RegExpExecArray | null;
    if ((match = /^!\s*([A-Za-z0-9._/-]+)\s*(,|$)/.exec(rest)) !== null) {
      requirements.push({ key: match[1] ?? '', operator: '!', values: [] });
    } else if (
      (match = /^([A-Za-z0-9._/-]+)\s+(in|notin)\s*\(([^)]*)\)\s*(,|$)/.exec(rest)) !== null
    ) {
      const values = (match[3] ?? '')
        .split(',')
        .map((value) => value.trim())
        .filter((value) => value.length > 0);
      requirements.push({
        key: match[1] ?? '',
        operator: match[2] === 'in' ? 'in' : 'notin',
        values,
      });
    } else if (
      (match = /^([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*(,|$)/.exec(rest)) !== null
    ) {
      requirements.push({
        key: match[1] ?? '',
        operator: match[2] === '!=' ? '!=' : '=',
        values: [match[3] ?? ''],
      });
    } else if ((match = /^([A-Za-z0-9._/-]+)\s*(,|$)/.exec(rest)) !== null) {
      requirements.push({ key: match[1] ?? '', operator: 'exists', values: [] });
    } else {
      fail(`cannot parse "${rest}"`);
    }
    rest = rest.slice(match?.[0].length ?? rest.length).trim();
  }
  return requirements;
}

/** Whether `labels` satisfy every requirement. */
export function matchesLabelRequirements(
  requirements: readonly LabelRequirement[],
  labels: Record<string, string> | undefined,
): boolean {
  const set = labels ?? {};
  return requirements.every((requirement) => {
    const has = Object.hasOwn(set, requirement.key);
    const value = set[requirement.key];
    switch (requirement.operator) {
      case '=':
        return has && value === requirement.values[0];
      case '!=':
        return !has || value !== requirement.values[0];
      case 'in':
        return has && requirement.values.includes(value ?? '');
      case 'notin':
        return !has || !requirement.values.includes(value ?? '');
      case 'exists':
        return has;
      case '!':
        return !has;
    }
    return false;
  });
}

/** A Kubernetes `LabelSelector` object (NetworkPolicy, Deployment). */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/**
 * Whether `labels` match a `LabelSelector` object; an empty selector matches everything,
 * as in NetworkPolicy's `podSelector: {}`.
 */
export function matchesLabelSelectorObject(
  selector: LabelSelectorObject | undefined | null,
  labels: Record<string, string> | undefined,
): boolean {
  if (selector === undefined || selector === null) return true;
  const set = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (set[key] !== value) return false;
  }
  for (const expression of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(set, expression.key);
    const values = expression.values ?? [];
    const value = set[expression.key] ?? '';
    switch (expression.operator) {
      case 'In':
        if (!has || !values.includes(value)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** Whether every key/value of a plain map selector (Istio `Gateway.spec.selector`) is in `labels`. */
export function matchesLabels(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  const set = labels ?? {};
  return Object.entries(selector ?? {}).every(([key, value]) => set[key] === value);
}

/** One parsed requirement of a field selector string. */
export interface FieldRequirement {
  path: string[];
  negate: boolean;
  value: string;
}

/** Parses `metadata.name=x,status.phase!=Running`; any dotted path of the object is accepted. */
export function parseFieldSelector(selector: string): FieldRequirement[] {
  return selector
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      const match = /^([A-Za-z0-9._-]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
      if (match === null)
        throw badRequestError(`invalid selector: '${selector}'; can't understand '${part}'`);
      return {
        path: (match[1] ?? '').split('.'),
        negate: match[2] === '!=',
        value: match[3] ?? '',
      };
    });
}

function fieldValue(object: unknown, path: readonly string[]): string {
  let current: unknown = object;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return '';
    current = (current as Record<string, unknown>)[segment];
  }
  return typeof current === 'string' || typeof current === 'number' || typeof current === 'boolean'
    ? String(current)
    : '';
}

/** Whether `object` satisfies every parsed field requirement. */
export function matchesFieldRequirements(
  requirements: readonly FieldRequirement[],
  object: KubeObject,
): boolean {
  return requirements.every(
    (requirement) =>
      (fieldValue(object, requirement.path) === requirement.value) !== requirement.negate,
  );
}

// ---------------------------------------------------------------------------------------
// Container logs.

/** One line of a container's log with the time the runtime stamped on it. */
export interface LogEntry {
  /** Milliseconds since the epoch. */
  time: number;
  /** Sub-millisecond part in nanoseconds, so that lines within one ms stay ordered. */
  nanos: number;
  text: string;
}

/** Per-container log buffers: the mesh model appends to them, `pods/log` reads them. */
export class ContainerLogs implements LogSink {
  readonly #buffers = new Map<string, LogEntry[]>();
  readonly #now: () => number;
  #lastTime = 0;
  #lastNanos = 0;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  append(namespace: string, pod: string, container: string, line: string, at?: Date): void {
    const time = at?.getTime() ?? this.#now();
    // Lines appended within one millisecond get increasing nanoseconds, as a runtime's would.
    const nanos = time === this.#lastTime ? this.#lastNanos + 1 : 0;
    this.#lastTime = time;
    this.#lastNanos = nanos;
    const key = logKey(namespace, pod, container);
    let buffer = this.#buffers.get(key);
    if (buffer === undefined) {
      buffer = [];
      this.#buffers.set(key, buffer);
    }
    const entry = { time, nanos, text: line.replace(/\n$/, '') };
    // Lines stamped in the past (tests, replays) are kept in time order.
    let index = buffer.length;
    while (index > 0 && compareEntries(buffer[index - 1] as LogEntry, entry) > 0) index -= 1;
    buffer.splice(index, 0, entry);
  }

  /** The lines of one container, oldest first. */
  read(namespace: string, pod: string, container: string): readonly LogEntry[] {
    return this.#buffers.get(logKey(namespace, pod, container)) ?? [];
  }

  /** Forgets a pod's logs, as the kubelet does when the pod is deleted. */
  removePod(namespace: string, pod: string): void {
    const prefix = `${namespace}/${pod}/`;
    for (const key of [...this.#buffers.keys()])
      if (key.startsWith(prefix)) this.#buffers.delete(key);
  }
}

function logKey(namespace: string, pod: string, container: string): string {
  return `${namespace}/${pod}/${container}`;
}

function compareEntries(a: LogEntry, b: LogEntry): number {
  return a.time - b.time || a.nanos - b.nanos;
}

/**
 * Go's RFC3339Nano, as the kubelet stamps lines for `timestamps=true`: trailing zeros of
 * the fraction are dropped, so the fraction has 0 to 9 digits.
 */
export function formatLogTimestamp(entry: LogEntry): string {
  const iso = new Date(entry.time).toISOString(); // 2026-01-02T03:04:05.678Z
  const fraction = String((entry.time % 1000) * 1_000_000 + entry.nanos)
    .padStart(9, '0')
    .replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}Z`;
}

// ---------------------------------------------------------------------------------------
// The store.

/** What changed: the live object after the write (before it, for DELETED). */
export interface StoreEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: KubeObject;
  previous?: KubeObject;
}

/** Context of an admission hook: what is being done and to what. */
export interface AdmissionRequest {
  operation: 'CREATE' | 'UPDATE';
  type: ResourceType;
  object: KubeObject;
  previous?: KubeObject;
}

/**
 * Runs before a write is stored, like a mutating/validating admission plugin: returns the
 * (possibly changed) object, or throws an `ApiError` to refuse the write.
 */
export type AdmissionHook = (request: AdmissionRequest, store: ObjectStore) => KubeObject;

/** Knobs of the store; the clock and randomness are injectable for tests. */
export interface ObjectStoreOptions {
  propagationMs?: number;
  propagationJitterMs?: number;
  now?: () => number;
  random?: () => number;
  /** Where exceptions thrown by watchers go; console.error unless told. */
  onListenerError?: (error: unknown) => void;
}

/** Filters of `list`. */
export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** Options of a write. */
export interface WriteOptions {
  /** Validate and compute the result, store nothing (`?dryRun=All`). */
  dryRun?: boolean;
}

/** What `delete` did: removed the object, or only marked it (finalizers pending). */
export interface DeleteResult {
  object: KubeObject;
  removed: boolean;
}

interface Version {
  object: KubeObject | undefined;
  effectiveAt: number;
}

interface Entry {
  live: KubeObject | undefined;
  /** Config kinds only: what the data plane sees from `effectiveAt` on, oldest first. */
  history: Version[];
}

/** Deep-freezes a plain JSON value so that stored objects cannot be changed behind the store's back. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}

/** A mutable deep copy of a stored (frozen) object. */
export function cloneObject<T>(object: T): T {
  return structuredClone(object);
}

function rfc3339(time: number): string {
  return new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function specOf(object: KubeObject): unknown {
  const { metadata: _metadata, status: _status, ...rest } = object;
  return rest;
}

function pendingFinalizers(object: KubeObject): string[] {
  const metadataFinalizers = Array.isArray(object.metadata.finalizers)
    ? (object.metadata.finalizers as string[])
    : [];
  const specFinalizers =
    object.kind === 'Namespace' && Array.isArray(object.spec?.finalizers)
      ? (object.spec.finalizers as string[])
      : [];
  return [...metadataFinalizers, ...specFinalizers];
}

/** The in-memory object store behind the simulated API server. */
export class ObjectStore {
  /** Container logs of the pods in this store. */
  readonly logs: ContainerLogs;
  readonly #entries = new Map<string, Map<string, Entry>>();
  readonly #listeners = new Set<(event: StoreEvent) => void>();
  readonly #admission: AdmissionHook[] = [];
  readonly #queue: StoreEvent[] = [];
  #flushing = false;
  #idleWaiters: (() => void)[] = [];
  #resourceVersion = 1000;
  readonly #propagationMs: number;
  readonly #jitterMs: number;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #onListenerError: (error: unknown) => void;

  constructor(options: ObjectStoreOptions = {}) {
    this.#propagationMs = options.propagationMs ?? 0;
    this.#jitterMs = options.propagationJitterMs ?? 0;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#onListenerError =
      options.onListenerError ??
      ((error) => console.error('simulated store watcher failed:', error));
    this.logs = new ContainerLogs(this.#now);
  }

  /** The store's clock, in ms since the epoch. */
  now(): number {
    return this.#now();
  }

  /** Random characters of the alphabet Kubernetes uses for generated names (no vowels, no look-alikes). */
  randomSuffix(length: number): string {
    const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
    return Array.from(
      { length },
      () => alphabet[Math.floor(this.#random() * alphabet.length)] ?? 'x',
    ).join('');
  }

  /** The latest resourceVersion handed out. */
  resourceVersion(): string {
    return String(this.#resourceVersion);
  }

  /** Registers an admission hook; hooks run in registration order on create and update. */
  addAdmission(hook: AdmissionHook): void {
    this.#admission.push(hook);
  }

  /** Calls `listener` after every write, asynchronously and in write order; returns an unsubscribe function. */
  watch(listener: (event: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves once every queued watcher notification has been delivered. */
  async idle(): Promise<void> {
    if (this.#queue.length === 0 && !this.#flushing) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }

  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const type = requireType(kind);
    return this.#entry(type, namespace, name)?.live;
  }

  list(kind: string, options: ListOptions = {}): KubeObject[] {
    const type = requireType(kind);
    const labels =
      options.labelSelector === undefined ? [] : parseLabelSelector(options.labelSelector);
    const fields =
      options.fieldSelector === undefined ? [] : parseFieldSelector(options.fieldSelector);
    const result: KubeObject[] = [];
    for (const entry of this.#entries.get(type.kind)?.values() ?? []) {
      const object = entry.live;
      if (object === undefined) continue;
      if (
        type.namespaced &&
        options.namespace !== undefined &&
        object.metadata.namespace !== options.namespace
      )
        continue;
      if (!matchesLabelRequirements(labels, object.metadata.labels)) continue;
      if (!matchesFieldRequirements(fields, object)) continue;
      result.push(object);
    }
    return result.sort(compareObjects);
  }

  /** Stores a new object, filling uid, resourceVersion, creationTimestamp and generation. */
  create(input: KubeObject, options: WriteOptions = {}): KubeObject {
    const type = requireType(input.kind);
    let object = cloneObject(input);
    object.metadata = { ...object.metadata };
    if (!type.namespaced) delete object.metadata.namespace;
    if (!object.metadata.name && typeof object.metadata.generateName === 'string') {
      object.metadata.name = `${object.metadata.generateName}${this.randomSuffix(5)}`;
    }
    for (const hook of this.#admission) object = hook({ operation: 'CREATE', type, object }, this);
    const namespace = type.namespaced ? object.metadata.namespace : undefined;
    const name = object.metadata.name;
    if (this.#entry(type, namespace, name)?.live !== undefined)
      throw alreadyExistsError(type, name);
    const now = this.#now();
    const metadata = object.metadata;
    const { resourceVersion: _rv, deletionTimestamp: _dt, ...rest } = metadata;
    object.metadata = {
      ...rest,
      uid: randomUUID(),
      resourceVersion:
        options.dryRun === true ? this.resourceVersion() : this.#nextResourceVersion(),
      creationTimestamp: rfc3339(now),
    };
    if (type.hasGeneration) object.metadata.generation = 1;
    else delete object.metadata.generation;
    const stored = deepFreeze(object);
    if (options.dryRun === true) return stored;
    this.#write(type, namespace, name, stored);
    this.#emit({ type: 'ADDED', object: stored });
    return stored;
  }

  /**
   * Replaces a stored object. A `metadata.resourceVersion` in `input` must match the stored
   * one (optimistic concurrency); uid and creationTimestamp are kept; generation grows
   * when anything outside metadata and status changes.
   */
  update(input: KubeObject, options: WriteOptions = {}): KubeObject {
    const type = requireType(input.kind);
    const namespace = type.namespaced ? input.metadata.namespace : undefined;
    const name = input.metadata.name;
    const previous = this.#entry(type, namespace, name)?.live;
    if (previous === undefined) throw notFoundError(type, name);
    if (
      input.metadata.resourceVersion !== undefined &&
      input.metadata.resourceVersion !== '' &&
      input.metadata.resourceVersion !== previous.metadata.resourceVersion
    ) {
      throw conflictError(
        type,
        name,
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    }
    let object = cloneObject(input);
    object.metadata = { ...object.metadata };
    if (!type.namespaced) delete object.metadata.namespace;
    for (const hook of this.#admission)
      object = hook({ operation: 'UPDATE', type, object, previous }, this);
    object.metadata.uid = previous.metadata.uid;
    object.metadata.creationTimestamp = previous.metadata.creationTimestamp;
    if (previous.metadata.deletionTimestamp !== undefined)
      object.metadata.deletionTimestamp = previous.metadata.deletionTimestamp;
    else delete object.metadata.deletionTimestamp;
    if (type.hasGeneration) {
      const generation =
        typeof previous.metadata.generation === 'number' ? previous.metadata.generation : 1;
      const changed = JSON.stringify(specOf(object)) !== JSON.stringify(specOf(previous));
      object.metadata.generation = changed ? generation + 1 : generation;
    }
    object.metadata.resourceVersion =
      options.dryRun === true ? previous.metadata.resourceVersion : this.#nextResourceVersion();
    const stored = deepFreeze(object);
    if (options.dryRun === true) return stored;
    if (stored.metadata.deletionTimestamp !== undefined && pendingFinalizers(stored).length === 0) {
      // The last finalizer is gone: the object goes away now.
      this.#write(type, namespace, name, undefined);
      this.#emit({ type: 'DELETED', object: stored, previous });
      return stored;
    }
    this.#write(type, namespace, name, stored);
    this.#emit({ type: 'MODIFIED', object: stored, previous });
    return stored;
  }

  /** Reads, changes a copy with `mutate`, and stores it; undefined when the object is gone. */
  modify(
    kind: string,
    namespace: string | undefined,
    name: string,
    mutate: (draft: KubeObject) => void,
  ): KubeObject | undefined {
    const current = this.get(kind, namespace, name);
    if (current === undefined) return undefined;
    const draft = cloneObject(current);
    mutate(draft);
    if (JSON.stringify(draft) === JSON.stringify(current)) return current;
    return this.update(draft);
  }

  /**
   * Deletes an object. One with finalizers (a Namespace's `spec.finalizers`) is only
   * marked with a deletionTimestamp, and a Namespace enters phase Terminating; it goes
   * away when its finalizers are removed.
   */
  delete(
    kind: string,
    namespace: string | undefined,
    name: string,
    options: WriteOptions = {},
  ): DeleteResult {
    const type = requireType(kind);
    const ns = type.namespaced ? namespace : undefined;
    const previous = this.#entry(type, ns, name)?.live;
    if (previous === undefined) throw notFoundError(type, name);
    if (pendingFinalizers(previous).length > 0) {
      if (previous.metadata.deletionTimestamp !== undefined)
        return { object: previous, removed: false };
      const marked = cloneObject(previous);
      marked.metadata.deletionTimestamp = rfc3339(this.#now());
      if (type.kind === 'Namespace') marked.status = { ...marked.status, phase: 'Terminating' };
      marked.metadata.resourceVersion =
        options.dryRun === true ? previous.metadata.resourceVersion : this.#nextResourceVersion();
      const stored = deepFreeze(marked);
      if (options.dryRun === true) return { object: stored, removed: false };
      this.#write(type, ns, name, stored);
      this.#emit({ type: 'MODIFIED', object: stored, previous });
      return { object: stored, removed: false };
    }
    if (options.dryRun === true) return { object: previous, removed: true };
    const gone = deepFreeze({
      ...cloneObject(previous),
      metadata: { ...cloneObject(previous.metadata), resourceVersion: this.#nextResourceVersion() },
    });
    this.#write(type, ns, name, undefined);
    this.#emit({ type: 'DELETED', object: gone, previous });
    return { object: gone, removed: true };
  }

  /** The configuration as the data plane sees it at `time`: config kinds lag by the propagation delay. */
  viewAt(time: number): ClusterView {
    const visible = (type: ResourceType, entry: Entry): KubeObject | undefined => {
      if (!type.config) return entry.live;
      let found: KubeObject | undefined;
      for (const version of entry.history) {
        if (version.effectiveAt > time) break;
        found = version.object;
      }
      return found;
    };
    return {
      list: (kind, namespace) => {
        const type = TYPES_BY_KIND.get(kind);
        if (type === undefined) return [];
        const result: KubeObject[] = [];
        for (const entry of this.#entries.get(kind)?.values() ?? []) {
          const object = visible(type, entry);
          if (object === undefined) continue;
          if (namespace !== undefined && type.namespaced && object.metadata.namespace !== namespace)
            continue;
          result.push(object);
        }
        return result.sort(compareObjects);
      },
      get: (kind, namespace, name) => {
        const type = TYPES_BY_KIND.get(kind);
        if (type === undefined) return undefined;
        const entry = this.#entry(type, type.namespaced ? namespace : undefined, name);
        return entry === undefined ? undefined : visible(type, entry);
      },
    };
  }

  /** `viewAt(now)`. */
  view(): ClusterView {
    return this.viewAt(this.#now());
  }

  /** When the latest write to a config object becomes visible to the data plane (for diagnostics and tests). */
  effectiveAt(kind: string, namespace: string | undefined, name: string): number | undefined {
    const type = requireType(kind);
    return this.#entry(type, type.namespaced ? namespace : undefined, name)?.history.at(-1)
      ?.effectiveAt;
  }

  #entry(type: ResourceType, namespace: string | undefined, name: string): Entry | undefined {
    return this.#entries.get(type.kind)?.get(`${namespace ?? ''}/${name}`);
  }

  #nextResourceVersion(): string {
    this.#resourceVersion += 1;
    return String(this.#resourceVersion);
  }

  #write(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    object: KubeObject | undefined,
  ): void {
    let byKey = this.#entries.get(type.kind);
    if (byKey === undefined) {
      byKey = new Map();
      this.#entries.set(type.kind, byKey);
    }
    const key = `${namespace ?? ''}/${name}`;
    const entry = byKey.get(key) ?? { live: undefined, history: [] };
    entry.live = object;
    if (type.config) {
      const now = this.#now();
      const jitter = this.#jitterMs > 0 ? Math.floor(this.#random() * (this.#jitterMs + 1)) : 0;
      // Per object, a newer write never becomes visible before an older one.
      const effectiveAt = Math.max(
        now + this.#propagationMs + jitter,
        entry.history.at(-1)?.effectiveAt ?? 0,
      );
      entry.history.push({ object, effectiveAt });
      // Versions superseded by one already effective can no longer be seen by anyone.
      let firstNeeded = 0;
      entry.history.forEach((version, index) => {
        if (version.effectiveAt <= now) firstNeeded = index;
      });
      entry.history.splice(0, firstNeeded);
    }
    const forgettable =
      entry.live === undefined &&
      (!type.config ||
        (entry.history.length === 1 &&
          entry.history[0]?.object === undefined &&
          (entry.history[0]?.effectiveAt ?? 0) <= this.#now()));
    if (forgettable) byKey.delete(key);
    else byKey.set(key, entry);
  }

  #emit(event: StoreEvent): void {
    this.#queue.push(event);
    if (this.#flushing) return;
    this.#flushing = true;
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    try {
      for (let event = this.#queue.shift(); event !== undefined; event = this.#queue.shift()) {
        for (const listener of [...this.#listeners]) {
          try {
            listener(event);
          } catch (error) {
            this.#onListenerError(error);
          }
        }
      }
    } finally {
      this.#flushing = false;
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

function compareObjects(a: KubeObject, b: KubeObject): number {
  const byNamespace = (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '');
  return byNamespace !== 0 ? byNamespace : a.metadata.name.localeCompare(b.metadata.name);
}
