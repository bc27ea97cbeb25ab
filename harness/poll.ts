/**
 * Waiting without fixed sleeps: every wait polls an observable until it holds, and on
 * expiry fails with what it last saw. Config reaches Envoy asynchronously (xDS), so a
 * single observation proves nothing; `converge` asks for N agreeing ones in a row.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ConformanceFailure } from './errors.ts';

/** Options of {@link pollUntil}. */
export interface PollOptions<O> {
  /** What is awaited, for the message: "deployment x to be ready". */
  what: string;
  observe: () => Promise<O>;
  done: (observation: O) => boolean;
  timeoutMs: number;
  intervalMs?: number;
  describe?: (observation: O) => string;
  /** What to check next when it never happens. */
  hint?: string;
}

/** Thrown when a wait for the environment (not a behaviour) expires. */
export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError';
}

/** Polls until `done` holds; throws {@link WaitTimeoutError} with the last observation. */
export async function pollUntil<O>({
  what,
  observe,
  done,
  timeoutMs,
  intervalMs = 100,
  describe = defaultDescribe,
  hint,
}: PollOptions<O>): Promise<O> {
  const started = Date.now();
  let last: { value?: O; error?: unknown };
  for (;;) {
    try {
      const value = await observe();
      if (done(value)) return value;
      last = { value };
    } catch (error) {
      last = { error };
    }
    const elapsed = Date.now() - started;
    if (elapsed >= timeoutMs) {
      const seen =
        'error' in last && last.error !== undefined
          ? `the last attempt failed: ${last.error instanceof Error ? last.error.message : JSON.stringify(last.error)}`
          : `last observed: ${describe(last.value as O)}`;
      throw new WaitTimeoutError(
        `Timed out after ${timeoutMs} ms waiting for ${what}; ${seen}.${hint ? ` Hint: ${hint}.` : ''}`,
      );
    }
    await delay(Math.min(intervalMs, Math.max(0, timeoutMs - elapsed)));
  }
}

/** Options of {@link converge}. */
export interface ConvergeOptions<O> {
  /** The behaviour being established, for the message: "the request leaves through the gateway". */
  what: string;
  observe: () => Promise<O>;
  /** `true` when the observation shows the behaviour; otherwise a reason it does not. */
  check: (observation: O) => true | string;
  /** Consecutive agreeing observations needed (Gateway API conformance uses 3). */
  required: number;
  timeoutMs: number;
  /** Pause after a disagreeing observation; none after an agreeing one. */
  intervalMs: number;
  describe: (observation: O) => string;
  hint: string;
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

/**
 * Observes until `required` consecutive observations agree, or fails with a
 * {@link ConformanceFailure} carrying the expectation, the last observation, the budget
 * and the hint.
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
}: ConvergeOptions<O>): Promise<Convergence<O>> {
  const started = Date.now();
  let streak = 0;
  let observations = 0;
  let flips = 0;
  let last: O | undefined;
  let lastReason = 'no observation was made';
  for (;;) {
    const observation = await observe();
    observations += 1;
    last = observation;
    const verdict = check(observation);
    if (verdict === true) {
      streak += 1;
      if (streak >= required) {
        return { last: observation, observations, flips, elapsedMs: Date.now() - started };
      }
    } else {
      if (streak > 0) flips += 1;
      streak = 0;
      lastReason = verdict;
    }
    const elapsed = Date.now() - started;
    if (elapsed >= timeoutMs) {
      throw new ConformanceFailure(
        [
          `Expected ${what} in ${required} consecutive observations within ${timeoutMs} ms, ` +
            `but after ${observations} observations (${elapsed} ms) it did not hold: ${lastReason}.`,
          `Last observation: ${describe(last)}`,
          `Hint: ${hint}`,
        ].join('\n'),
      );
    }
    if (verdict !== true) await delay(Math.min(intervalMs, Math.max(0, timeoutMs - elapsed)));
  }
}

function defaultDescribe(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
