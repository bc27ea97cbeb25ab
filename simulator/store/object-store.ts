/** The simulated etcd; config keeps a history so the data plane sees it after an xDS-like delay. */
import { randomUUID } from 'node:crypto';
import { rfc3339, sameValue } from '../json.ts';
import type { ClusterView, KubeObject } from '../types.ts';
import { alreadyExistsError, conflictError, notFoundError } from './errors.ts';
import { ContainerLogs } from './logs.ts';
import { OPTIMISTIC_CONCURRENCY } from '../../harness/facts/kube-api.ts';
import {
  requireType,
  requireTypeOf,
  resourceTypeForKind,
  type ResourceType,
} from './resource-types.ts';
import {
  matchesFieldRequirements,
  matchesLabelRequirements,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.ts';

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

/** How many events the store remembers for resuming watches (the watch cache's window). */
const HISTORY_LIMIT = 10_000;

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

function specOf(object: KubeObject): unknown {
  const { metadata: _metadata, status: _status, ...rest } = object;
  return rest;
}

/** An object without what every write changes: resourceVersion and managedFields times. */
function unversioned(object: KubeObject): unknown {
  const managedFields = Array.isArray(object.metadata.managedFields)
    ? object.metadata.managedFields.map((entry) =>
        entry !== null && typeof entry === 'object' ? { ...entry, time: undefined } : entry,
      )
    : object.metadata.managedFields;
  return { ...object, metadata: { ...object.metadata, resourceVersion: undefined, managedFields } };
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
  /** Recent events, oldest first, for watches that resume from a resourceVersion. */
  readonly #history: StoreEvent[] = [];
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

  /**
   * The events after resourceVersion `since`, oldest first, as the watch cache replays them
   * to a watch that resumes; undefined when `since` is older than what is remembered (the
   * watch then ends with 410 Expired). `oldest` is the oldest resourceVersion remembered.
   */
  eventsSince(since: number): { events: StoreEvent[] } | { expired: true; oldest: number } {
    const first = this.#history[0];
    const oldest =
      first === undefined
        ? this.#resourceVersion + 1
        : Number(first.object.metadata.resourceVersion);
    if (since < oldest - 1 && this.#history.length >= HISTORY_LIMIT)
      return { expired: true, oldest };
    return {
      events: this.#history.filter(
        (event) => Number(event.object.metadata.resourceVersion) > since,
      ),
    };
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
    for (const entry of this.#entries.get(type.key)?.values() ?? []) {
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
    const type = requireTypeOf(input);
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
    const type = requireTypeOf(input);
    const namespace = type.namespaced ? input.metadata.namespace : undefined;
    const name = input.metadata.name;
    const previous = this.#entry(type, namespace, name)?.live;
    if (previous === undefined) throw notFoundError(type, name);
    if (
      input.metadata.resourceVersion !== undefined &&
      input.metadata.resourceVersion !== '' &&
      input.metadata.resourceVersion !== previous.metadata.resourceVersion
    ) {
      throw conflictError(type, name, OPTIMISTIC_CONCURRENCY.message);
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
    // A write that changes nothing is not stored: same resourceVersion, no event
    // (NO_OP_UPDATE_KEEPS_RESOURCE_VERSION in harness/facts/kube-api.ts).
    if (sameValue(unversioned(object), unversioned(previous))) return previous;
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
        const type = resourceTypeForKind(kind);
        if (type === undefined) return [];
        const result: KubeObject[] = [];
        for (const entry of this.#entries.get(type.key)?.values() ?? []) {
          const object = visible(type, entry);
          if (object === undefined) continue;
          if (namespace !== undefined && type.namespaced && object.metadata.namespace !== namespace)
            continue;
          result.push(object);
        }
        return result.sort(compareObjects);
      },
      get: (kind, namespace, name) => {
        const type = resourceTypeForKind(kind);
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
    return this.#entries.get(type.key)?.get(`${namespace ?? ''}/${name}`);
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
    let byKey = this.#entries.get(type.key);
    if (byKey === undefined) {
      byKey = new Map();
      this.#entries.set(type.key, byKey);
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
    this.#history.push(event);
    if (this.#history.length > HISTORY_LIMIT)
      this.#history.splice(0, this.#history.length - HISTORY_LIMIT);
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
