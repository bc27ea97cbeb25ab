/**
 * The lock on labels a run borrows on namespaces it does not own (istio-system, kube-system).
 * Two runs on one cluster must not interleave there: each would record the other's values as
 * "previous" and leave them behind. The lock is a record in an annotation of the namespace
 * itself, written together with the labels in one merge patch that carries the
 * resourceVersion it was computed from, so the API server accepts it only if nobody wrote
 * the namespace in between (optimistic concurrency, OPTIMISTIC_CONCURRENCY in
 * harness/facts/kube-api.ts); on 409 Conflict it reads again and decides again. There is no
 * moment where the lock is checked but not yet set.
 *
 * The holder renews the record while it holds it. A waiter takes a lock over when it has seen
 * the same record, unchanged, for `sharedNamespaceLockStale` by its own clock: as client-go's
 * leader election does (`tools/leaderelection/leaderelection.go`, `observedTime`), it trusts
 * only that the record changes, never the timestamps in it, which another host's clock wrote.
 * Taking over puts back the values the stale holder recorded, in the same write.
 */
import { hostname } from 'node:os';
import { PatchStrategy, type V1Namespace } from '@kubernetes/client-node';
import { apiFailure, type Kube } from './k8s/client.ts';
import type { PreviousLabels } from './k8s/namespaces.ts';
import { OPTIMISTIC_CONCURRENCY } from './facts/kube-api.ts';
import { SHARED_LOCK_ANNOTATION, SHARED_LOCK_HOLDER_ANNOTATION } from './run-labels.ts';
import type { TimeoutConfig } from './timeouts.ts';
import { pause, realClock, type Clock } from './wait.ts';

/** The record a holder keeps on the namespace (the annotation's JSON). */
export interface LockRecord {
  /** The run id (the value of the run label on the namespaces it creates). */
  run: string;
  /** Who inside the run holds it (one suite variant), so two holders of a run never share. */
  owner: string;
  host: string;
  pid: number;
  /** When the holder took the lock, by its clock (for people; waiters do not compare it). */
  since: string;
  /** When it last renewed the lock, by its clock; any change tells waiters it is alive. */
  renewed: string;
  /** The borrowed keys' values before the holder set them; null: the label was absent. */
  previous: Record<string, string | null>;
}

/** Who takes the lock. */
export interface LockIdentity {
  run: string;
  owner: string;
}

/** Options of {@link LabelLocks}. */
export interface LabelLocksOptions {
  kube: Kube;
  identity: LockIdentity;
  timeouts: Pick<
    TimeoutConfig,
    'sharedNamespaceLock' | 'sharedNamespaceLockStale' | 'pollInterval'
  >;
  /** Where the waiting and take-over messages go [console.log]. */
  log?: (line: string) => void;
  clock?: Clock;
}

/** Reads the lock record of a namespace; a record that is not ours to parse counts as held by someone unknown. */
export function lockRecordOf(namespace: V1Namespace): LockRecord | undefined {
  const annotations = namespace.metadata?.annotations ?? {};
  const raw = annotations[SHARED_LOCK_HOLDER_ANNOTATION];
  const run = annotations[SHARED_LOCK_ANNOTATION];
  if (raw === undefined && run === undefined) return undefined;
  try {
    const record = JSON.parse(raw ?? '') as LockRecord;
    if (typeof record.owner === 'string' && typeof record.previous === 'object') return record;
  } catch {
    // Fall through: a lock written by an older version (run id only) or by hand.
  }
  return {
    run: run ?? 'unknown',
    owner: `unknown (${SHARED_LOCK_ANNOTATION}=${run ?? ''})`,
    host: 'unknown',
    pid: 0,
    since: 'unknown',
    renewed: 'unknown',
    previous: {},
  };
}

/** The holder, for messages: `run abc123 (host ci-7, pid 4242, since …, renewed …)`. */
export function describeHolder(record: LockRecord): string {
  return `run ${record.run} (${record.owner}; host ${record.host}, pid ${record.pid}, since ${record.since}, last renewed ${record.renewed})`;
}

function isConflict(error: unknown): boolean {
  return apiFailure(error)?.code === OPTIMISTIC_CONCURRENCY.code;
}

interface Held {
  record: LockRecord;
  renewal: NodeJS.Timeout;
  /** The renewal in flight, awaited before the release writes. */
  renewing: Promise<void>;
  /** Set when a renewal found someone else's record: the lock was taken over. */
  lostTo: LockRecord | undefined;
}

/** The borrowed-labels locks one holder (a suite variant of a run) takes and gives back. */
export class LabelLocks {
  readonly #kube: Kube;
  readonly #identity: LockIdentity;
  readonly #timeouts: LabelLocksOptions['timeouts'];
  readonly #log: (line: string) => void;
  readonly #clock: Clock;
  readonly #held = new Map<string, Held>();
  /** Borrows whose write may still land: release() waits for them, or it would miss their lock. */
  readonly #pending = new Set<Promise<unknown>>();

  constructor({
    kube,
    identity,
    timeouts,
    log = console.log,
    clock = realClock,
  }: LabelLocksOptions) {
    this.#kube = kube;
    this.#identity = identity;
    this.#timeouts = timeouts;
    this.#log = log;
    this.#clock = clock;
  }

  /** The namespaces whose lock this holder has. */
  get namespaces(): string[] {
    return [...this.#held.keys()];
  }

  /**
   * Takes the lock on `namespace` (waiting for another holder, taking over a stale one) and
   * sets `labels` in the same write. Returns what those keys held before this holder first
   * set them (`undefined`: absent).
   */
  borrow(namespace: string, labels: Record<string, string>): Promise<PreviousLabels> {
    const borrowing = this.#borrow(namespace, labels);
    this.#pending.add(borrowing);
    const settled = (): void => {
      this.#pending.delete(borrowing);
    };
    borrowing.then(settled, settled);
    return borrowing;
  }

  async #borrow(namespace: string, labels: Record<string, string>): Promise<PreviousLabels> {
    const { sharedNamespaceLock: budgetMs, sharedNamespaceLockStale: staleMs } = this.#timeouts;
    const started = this.#clock.now();
    // The other holder's record as last seen, and since when (by our clock) it has not changed.
    let seen: { record: string; since: number } | undefined;
    // The holder last named to the user: a new holder is named again.
    let told: string | undefined;
    for (;;) {
      const current = await this.#kube.core.readNamespace({ name: namespace });
      const record = lockRecordOf(current);
      const now = this.#clock.now();
      let restore: Record<string, string | null> = {};
      if (record && record.owner !== this.#identity.owner) {
        const text = JSON.stringify(record);
        if (seen?.record !== text) seen = { record: text, since: now };
        const silentMs = now - seen.since;
        if (silentMs < staleMs) {
          if (now - started >= budgetMs) {
            throw new Error(
              `Namespace ${namespace}'s labels stayed borrowed by ${describeHolder(record)} for the whole ${budgetMs} ms budget (sharedNamespaceLock); if that run no longer exists, its lock is taken over once it has not been renewed for ${staleMs} ms (sharedNamespaceLockStale)`,
            );
          }
          if (told !== record.owner) {
            this.#log(
              `waiting for namespace ${namespace}: its labels are borrowed by ${describeHolder(record)}; taken over if not renewed for ${Math.round(staleMs / 1000)} s`,
            );
            told = record.owner;
          }
          await pause(
            this.#clock,
            Math.min(Math.max(this.#timeouts.pollInterval, 100), staleMs - silentMs),
            `namespace ${namespace}'s labels, borrowed by another run`,
          );
          continue;
        }
        this.#log(
          `taking over namespace ${namespace}'s labels from ${describeHolder(record)}: not renewed for ${Math.round(silentMs / 1000)} s; restoring the labels it recorded`,
        );
        restore = record.previous;
      }
      const mine = record?.owner === this.#identity.owner ? record : undefined;
      const labelsNow = { ...(current.metadata?.labels ?? {}) };
      for (const [key, value] of Object.entries(restore)) {
        if (value === null) delete labelsNow[key];
        else labelsNow[key] = value;
      }
      const previous = { ...(mine?.previous ?? {}) };
      for (const key of Object.keys(labels)) {
        if (!(key in previous)) previous[key] = labelsNow[key] ?? null;
      }
      const stamp = new Date(now).toISOString();
      const next: LockRecord = {
        run: this.#identity.run,
        owner: this.#identity.owner,
        host: hostname(),
        pid: process.pid,
        since: mine?.since ?? stamp,
        renewed: stamp,
        previous,
      };
      const written = await this.#write(namespace, current, { ...restore, ...labels }, next);
      if (!written) continue;
      this.#hold(namespace, next);
      return Object.fromEntries<string | undefined>(
        Object.keys(labels).map((key) => [key, previous[key] ?? undefined]),
      );
    }
  }

  /**
   * Puts back every label this holder borrowed and removes its lock, each namespace in one
   * conditional write. Returns a sentence per namespace whose lock was taken over meanwhile
   * (its labels are then the new holder's to restore, and are left alone).
   */
  async release(): Promise<string[]> {
    // A cleanup that starts while a borrow's write is in flight (an interrupted setup) must
    // still give back what that write set.
    await Promise.allSettled([...this.#pending]);
    const problems: string[] = [];
    for (const [namespace, held] of [...this.#held]) {
      clearInterval(held.renewal);
      await held.renewing;
      const started = this.#clock.now();
      for (;;) {
        const current = await this.#kube.core.readNamespace({ name: namespace });
        const record = lockRecordOf(current);
        if (record?.owner !== this.#identity.owner) {
          problems.push(
            `the lock on namespace ${namespace}'s labels was taken over by ${record ? describeHolder(record) : 'nobody (it was removed)'} while this run held it; its labels were left alone`,
          );
          break;
        }
        const written = await this.#write(namespace, current, record.previous, undefined);
        if (written) break;
        if (this.#clock.now() - started >= this.#timeouts.sharedNamespaceLock) {
          throw new Error(
            `Giving back namespace ${namespace}'s labels kept conflicting with other writers for ${this.#timeouts.sharedNamespaceLock} ms`,
          );
        }
      }
      this.#held.delete(namespace);
    }
    return problems;
  }

  /** One conditional merge patch; false when the namespace changed since `current` was read. */
  async #write(
    namespace: string,
    current: V1Namespace,
    labels: Record<string, string | null>,
    record: LockRecord | undefined,
  ): Promise<boolean> {
    try {
      await this.#kube.objects.patch(
        {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: {
            name: namespace,
            // The precondition: the server refuses the write if this is no longer current.
            resourceVersion: current.metadata?.resourceVersion ?? '',
            labels,
            annotations: {
              [SHARED_LOCK_ANNOTATION]: record ? record.run : null,
              [SHARED_LOCK_HOLDER_ANNOTATION]: record ? JSON.stringify(record) : null,
            },
          },
        } as never,
        undefined,
        undefined,
        undefined,
        undefined,
        PatchStrategy.MergePatch,
      );
      return true;
    } catch (error) {
      if (isConflict(error)) return false;
      throw new Error(
        `Writing the borrowed-labels lock on namespace ${namespace} failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }

  #hold(namespace: string, record: LockRecord): void {
    const existing = this.#held.get(namespace);
    if (existing) {
      existing.record = record;
      return;
    }
    const held: Held = {
      record,
      renewing: Promise.resolve(),
      lostTo: undefined,
      renewal: setInterval(
        () => {
          held.renewing = held.renewing.then(() => this.#renew(namespace, held));
        },
        Math.max(Math.floor(this.#timeouts.sharedNamespaceLockStale / 4), 50),
      ),
    };
    // A renewal never keeps the process alive by itself.
    held.renewal.unref();
    this.#held.set(namespace, held);
  }

  /** Rewrites the record with a new renewal time, so waiters see it change. */
  async #renew(namespace: string, held: Held): Promise<void> {
    if (held.lostTo) return;
    try {
      const current = await this.#kube.core.readNamespace({ name: namespace });
      const record = lockRecordOf(current);
      if (record?.owner !== this.#identity.owner) {
        held.lostTo = record;
        this.#log(
          `the lock on namespace ${namespace}'s labels was taken over by ${record ? describeHolder(record) : 'nobody'}`,
        );
        return;
      }
      const next = { ...record, renewed: new Date(this.#clock.now()).toISOString() };
      // A conflict only means someone else wrote the namespace: the next tick renews.
      if (await this.#write(namespace, current, {}, next)) held.record = next;
    } catch {
      // An API hiccup: the next tick tries again, well within the stale timeout.
    }
  }
}

/**
 * The CLI's last word on borrowed labels: after the suites (however they ended: a worker
 * killed mid-setup cannot run its own cleanup), every shared namespace still carrying a lock
 * of `runId` gets the labels its record kept as previous values back, and loses the lock, in
 * one conditional write each. Returns the namespaces restored.
 */
export async function restoreLocksOfRun(kube: Kube, runId: string): Promise<string[]> {
  const restored: string[] = [];
  const { items } = await kube.core.listNamespace();
  for (const listed of items) {
    if (listed.metadata?.annotations?.[SHARED_LOCK_ANNOTATION] !== runId) continue;
    const name = listed.metadata.name ?? '';
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const current = await kube.core.readNamespace({ name });
      const record = lockRecordOf(current);
      if (!record || record.run !== runId) break;
      try {
        await kube.objects.patch(
          {
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: {
              name,
              resourceVersion: current.metadata?.resourceVersion ?? '',
              labels: record.previous,
              annotations: {
                [SHARED_LOCK_ANNOTATION]: null,
                [SHARED_LOCK_HOLDER_ANNOTATION]: null,
              },
            },
          } as never,
          undefined,
          undefined,
          undefined,
          undefined,
          PatchStrategy.MergePatch,
        );
        restored.push(name);
        break;
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
  }
  return restored;
}
