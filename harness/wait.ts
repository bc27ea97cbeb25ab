/**
 * The one way the harness waits: observe, and stop when the observation holds or the
 * budget is spent, then say what was last seen. Never a fixed sleep. Config reaches
 * Envoy asynchronously (xDS), so for a behaviour one observation proves nothing:
 * {@link converge} asks for N agreeing ones in a row. Every wait takes a {@link Clock}
 * (testcontainers' `common/retry.ts` model), real by default, so tests run on a fake one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { EnvironmentError, renderFailure } from './errors.ts';

/** Time as a wait sees it. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or early (without error) once `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The wall clock and real timers. */
export const realClock: Clock = {
  now: () => Date.now(),
  async sleep(ms, signal) {
    try {
      await delay(ms, undefined, signal ? { signal } : undefined);
    } catch (error) {
      if (!signal?.aborted) throw error;
    }
  },
};

/**
 * The run's cancellation as the waits inside a case, setup or stage see it: the executor runs
 * those in {@link interruptibleBy}, and a wait there ends at its next observation or pause once
 * the run is interrupted (SIGINT/SIGTERM), instead of spending the rest of its budget (minutes
 * on a real cluster) before cleanup can start. Cleanup runs outside it: its waits (namespace
 * deletion) still finish. Scoped per async context, not global: suites run concurrently.
 */
const interruption = new AsyncLocalStorage<AbortSignal>();

/** Runs `work` so that every wait inside it throws {@link WaitInterruptedError} once `signal` aborts. */
export function interruptibleBy<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
  return interruption.run(signal, work);
}

/** A wait ended because the run was interrupted, not because of anything it observed. */
export class WaitInterruptedError extends Error {
  override name = 'WaitInterruptedError';
  readonly what: string;

  constructor(what: string) {
    super(`the run was interrupted while waiting for ${what}`);
    this.what = what;
  }
}

/** Throws {@link WaitInterruptedError} if the enclosing run has been interrupted. */
function throwIfInterrupted(what: string): void {
  if (interruption.getStore()?.aborted) throw new WaitInterruptedError(what);
}

/**
 * The clock's pause, cut short (then throwing {@link WaitInterruptedError}) when the enclosing
 * run is interrupted: every wait's pause between observations, also those with their own loop.
 */
export async function pause(clock: Clock, ms: number, what: string): Promise<void> {
  const signal = interruption.getStore();
  await clock.sleep(ms, signal);
  if (signal?.aborted) throw new WaitInterruptedError(what);
}

/** One observation: what `observe` returned, or what it threw. */
export type Observation<O> = { ok: true; value: O } | { ok: false; error: unknown };

/** Options of {@link poll}. */
export interface PollOptions<O> {
  observe: () => Promise<O>;
  done: (observation: O) => boolean;
  timeoutMs: number;
  /** Pause between observations that are not done [100 ms]. */
  intervalMs?: number;
  clock?: Clock;
  /** What is awaited, for the message when the run is interrupted ["an observation to hold"]. */
  what?: string;
}

/** How a {@link poll} ended. */
export interface PollOutcome<O> {
  done: boolean;
  last: Observation<O>;
  observations: number;
  elapsedMs: number;
}

/**
 * Observes until `done` holds or `timeoutMs` is spent, and reports how it ended; an
 * `observe` that throws is an observation that is not done. For waits whose expiry is an
 * answer, not an error (e.g. "no access-log entry within the flush window").
 */
export async function poll<O>({
  observe,
  done,
  timeoutMs,
  intervalMs = 100,
  clock = realClock,
  what = 'an observation to hold',
}: PollOptions<O>): Promise<PollOutcome<O>> {
  const started = clock.now();
  let observations = 0;
  for (;;) {
    throwIfInterrupted(what);
    const last = await attempt(observe);
    observations += 1;
    const elapsedMs = clock.now() - started;
    if (last.ok && done(last.value)) return { done: true, last, observations, elapsedMs };
    if (elapsedMs >= timeoutMs) return { done: false, last, observations, elapsedMs };
    await pause(clock, Math.min(intervalMs, timeoutMs - elapsedMs), what);
  }
}

/** The fields of a {@link WaitTimeoutError}. */
export interface WaitTimeoutFields {
  /** What was awaited: "deployment x to be ready". */
  what: string;
  budgetMs: number;
  elapsedMs: number;
  /** Observations made; 0 for a deadline on one piece of work. */
  observations: number;
  /** The last observation, described; absent for a deadline. */
  observed?: string;
  /** What to check next. */
  hint?: string;
}

/** A wait for the environment (not a behaviour) expired; the message is rendered from the fields. */
export class WaitTimeoutError extends Error implements WaitTimeoutFields {
  override name = 'WaitTimeoutError';
  readonly what: string;
  readonly budgetMs: number;
  readonly elapsedMs: number;
  readonly observations: number;
  readonly observed: string | undefined;
  readonly hint: string | undefined;

  constructor(fields: WaitTimeoutFields) {
    const { what, budgetMs, observed, hint } = fields;
    super(
      observed === undefined
        ? `${what} did not finish within ${budgetMs} ms${hint ? `. Hint: ${hint}.` : ''}`
        : `Timed out after ${budgetMs} ms waiting for ${what}; last observation: ${observed}.${hint ? ` Hint: ${hint}.` : ''}`,
    );
    this.what = what;
    this.budgetMs = budgetMs;
    this.elapsedMs = fields.elapsedMs;
    this.observations = fields.observations;
    this.observed = observed;
    this.hint = hint;
  }
}

/** Options of {@link pollUntil}. */
export interface PollUntilOptions<O> extends PollOptions<O> {
  /** What is awaited, for the message: "deployment x to be ready". */
  what: string;
  describe?: (observation: O) => string;
  /** What to check next when it never happens. */
  hint?: string;
}

/** Polls until `done` holds; throws {@link WaitTimeoutError} with the last observation. */
export async function pollUntil<O>({
  what,
  describe = defaultDescribe,
  hint,
  ...options
}: PollUntilOptions<O>): Promise<O> {
  const outcome = await poll({ ...options, what });
  if (outcome.done && outcome.last.ok) return outcome.last.value;
  throw new WaitTimeoutError({
    what,
    budgetMs: options.timeoutMs,
    elapsedMs: outcome.elapsedMs,
    observations: outcome.observations,
    observed: describeObservation(outcome.last, describe),
    ...(hint ? { hint } : {}),
  });
}

/**
 * Waits for one piece of work, at most `timeoutMs`; on expiry throws
 * {@link WaitTimeoutError} ("<what> did not finish within N ms") and leaves the work behind.
 */
export async function withDeadline<T>(
  work: Promise<T>,
  { what, timeoutMs, clock = realClock }: { what: string; timeoutMs: number; clock?: Clock },
): Promise<T> {
  const started = clock.now();
  const finished = new AbortController();
  const expired = clock.sleep(timeoutMs, finished.signal).then((): never => {
    throw new WaitTimeoutError({
      what,
      budgetMs: timeoutMs,
      elapsedMs: clock.now() - started,
      observations: 0,
    });
  });
  // The work finishing first aborts the sleep, which then resolves; nothing may reject unheard.
  expired.catch(() => undefined);
  try {
    return await Promise.race([work, expired]);
  } finally {
    finished.abort();
  }
}

/** Options of {@link converge}. */
export interface ConvergeOptions<O> {
  /** What is being established, for the message: "the request to leave through the gateway". */
  what: string;
  observe: () => Promise<O>;
  /** `true` when the observation shows it; otherwise the reason it does not. */
  check: (observation: O) => true | string;
  /** Consecutive agreeing observations needed (Gateway API conformance uses 3). */
  required: number;
  timeoutMs: number;
  /** Pause after a disagreeing observation; none after an agreeing one. */
  intervalMs: number;
  describe: (observation: O) => string;
  hint: string;
  clock?: Clock;
}

/** How a convergence went: reported per test so late or flapping passes are visible. */
export interface Convergence<O> {
  last: O;
  /** All observations made, agreeing or not. */
  observations: number;
  /** Times an agreeing streak was broken by a disagreeing observation: > 0 means flaky. */
  flips: number;
  elapsedMs: number;
}

/** The fields of a {@link ConvergenceTimeoutError}. */
export interface ConvergenceTimeoutFields {
  what: string;
  required: number;
  budgetMs: number;
  observations: number;
  flips: number;
  elapsedMs: number;
  /** Why the last disagreeing observation disagreed. */
  reason: string;
  /** The last observation, described. */
  observed: string;
  hint: string;
}

/** A convergence ran out of budget; the checks turn it into a ConformanceFailure. */
export class ConvergenceTimeoutError extends Error implements ConvergenceTimeoutFields {
  override name = 'ConvergenceTimeoutError';
  readonly what: string;
  readonly required: number;
  readonly budgetMs: number;
  readonly observations: number;
  readonly flips: number;
  readonly elapsedMs: number;
  readonly reason: string;
  readonly observed: string;
  readonly hint: string;

  constructor(fields: ConvergenceTimeoutFields) {
    super(renderFailure({ ...fields, expected: fields.what }));
    this.what = fields.what;
    this.required = fields.required;
    this.budgetMs = fields.budgetMs;
    this.observations = fields.observations;
    this.flips = fields.flips;
    this.elapsedMs = fields.elapsedMs;
    this.reason = fields.reason;
    this.observed = fields.observed;
    this.hint = fields.hint;
  }
}

/**
 * Observes until `required` consecutive observations agree, or throws
 * {@link ConvergenceTimeoutError} with the expectation, the last observation, the budget
 * and the hint. An `observe` that throws is a disagreeing observation.
 */
export async function converge<O>({
  what,
  observe,
  check,
  required,
  timeoutMs,
  intervalMs,
  describe,
  hint,
  clock = realClock,
}: ConvergeOptions<O>): Promise<Convergence<O>> {
  const started = clock.now();
  let streak = 0;
  let observations = 0;
  let flips = 0;
  let lastReason: string | undefined;
  for (;;) {
    throwIfInterrupted(what);
    const last = await attempt(observe);
    observations += 1;
    const verdict = last.ok
      ? check(last.value)
      : `the observation failed: ${errorMessage(last.error)}`;
    if (verdict !== true) {
      if (streak > 0) flips += 1;
      streak = 0;
      lastReason = verdict;
    } else if (last.ok) {
      streak += 1;
      if (streak >= required) {
        return { last: last.value, observations, flips, elapsedMs: clock.now() - started };
      }
    }
    const elapsedMs = clock.now() - started;
    if (elapsedMs >= timeoutMs) {
      const shortStreak = `only ${streak} of ${required} consecutive observations agreed before the budget ran out`;
      throw new ConvergenceTimeoutError({
        what,
        required,
        budgetMs: timeoutMs,
        observations,
        flips,
        elapsedMs,
        reason:
          streak === 0
            ? (lastReason ?? 'no observation was made')
            : lastReason
              ? `${shortStreak}; the last disagreeing one: ${lastReason}`
              : shortStreak,
        observed: describeObservation(last, describe),
        hint,
      });
    }
    if (streak === 0) await pause(clock, Math.min(intervalMs, timeoutMs - elapsedMs), what);
  }
}

/**
 * One observation. An {@link EnvironmentError} (e.g. the API server stopped answering) is
 * not an observation of what is awaited: it ends the wait at once instead of being polled
 * until the budget runs out and then reported as the awaited thing not happening. Nor is an
 * interruption of a wait inside `observe`.
 */
async function attempt<O>(observe: () => Promise<O>): Promise<Observation<O>> {
  try {
    return { ok: true, value: await observe() };
  } catch (error) {
    if (error instanceof EnvironmentError || error instanceof WaitInterruptedError) throw error;
    return { ok: false, error };
  }
}

function describeObservation<O>(
  observation: Observation<O>,
  describe: (value: O) => string,
): string {
  return observation.ok
    ? describe(observation.value)
    : `none, the attempt failed: ${errorMessage(observation.error)}`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : defaultDescribe(error);
}

function defaultDescribe(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
