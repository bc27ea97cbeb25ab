/**
 * Retrying Kubernetes API requests through transient failures, and giving up in bounded
 * time. Every attempt has a deadline (`apiRequest`), failures are retried with exponential
 * backoff (p-retry) honouring the server's `Retry-After`, and a request that finds no usable
 * answer for `apiUnavailable` declares the API server unavailable: an
 * {@link ApiUnavailableError} (exit 2) naming the server and the run's step. From then on
 * this process asks that server nothing more, so cleanup and diagnostics fail at once
 * instead of each waiting out a budget, and the run ends in bounded time.
 *
 * What is sent again (see {@link requestIdempotency}): reads, PUT (a replace carries the
 * resourceVersion it read, so a second one after a lost answer is refused with 409 rather
 * than applied twice), DELETE (a second one answers 404, which every caller takes as gone),
 * server-side apply and JSON merge patches (both declare the end state), and the review
 * kinds that are POSTed but stored nowhere. Any other POST (a create) or patch is sent again
 * only when it cannot have been acted on: a 429 (refused before the handler) or a refused
 * connection. Callers that can tell their own earlier attempt apart reconcile instead
 * (namespace creation checks the run label on a 409).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import pRetry, { AbortError } from 'p-retry';
import { setTimeout as delay } from 'node:timers/promises';
import { EnvironmentError } from '../errors.ts';
import { NON_PERSISTED_REVIEW_RESOURCE, RETRIED_STATUSES } from '../facts/api-retry.ts';
import type { TimeoutConfig } from '../timeouts.ts';

/** How one request is bounded and retried. */
export interface ApiRetryPolicy {
  /** Deadline of one attempt: connection, headers and the whole body. */
  attemptTimeoutMs: number;
  /** Time spent retrying before the server counts as unavailable. */
  budgetMs: number;
  /** First backoff; doubles per retry (randomised up to twice that), capped at `maxDelayMs`. */
  minDelayMs: number;
  maxDelayMs: number;
}

/** The policy the named timeouts give. */
export function retryPolicy(
  timeouts: Pick<TimeoutConfig, 'apiRequest' | 'apiUnavailable'>,
): ApiRetryPolicy {
  return {
    attemptTimeoutMs: timeouts.apiRequest,
    budgetMs: timeouts.apiUnavailable,
    minDelayMs: 200,
    maxDelayMs: 5000,
  };
}

/** Whether sending a request a second time could double its effect. */
export type Idempotency = 'idempotent' | 'effectful';

/** Decides from the method, path and patch type whether a request may simply be sent again. */
export function requestIdempotency(method: string, url: string, contentType = ''): Idempotency {
  const verb = method.toUpperCase();
  if (['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'].includes(verb)) return 'idempotent';
  if (verb === 'PATCH') {
    // Server-side apply and RFC 7386 merge patches declare the end state; a JSON patch
    // (RFC 6902) may append, and a strategic merge patch may carry list directives.
    return /application\/(apply-patch\+yaml|merge-patch\+json)/.test(contentType)
      ? 'idempotent'
      : 'effectful';
  }
  if (verb === 'POST') {
    const path = new URL(url, 'https://api.invalid').pathname;
    return NON_PERSISTED_REVIEW_RESOURCE.test(path) ? 'idempotent' : 'effectful';
  }
  return 'effectful';
}

/** How a failed attempt may be followed. */
export interface AttemptVerdict {
  /** Send it again, within the budget. */
  retry: boolean;
  /** How long the server asked to wait (`Retry-After`), in ms. */
  retryAfterMs?: number | undefined;
  /** The failure says the server is not serving (no answer, 429, 502–504), not "no". */
  unavailable: boolean;
}

/** An attempt that got no answer within its deadline. */
export class AttemptTimeoutError extends Error {
  override name = 'AttemptTimeoutError';
}

/** The Kubernetes API server gave no usable answer for the whole retry budget. */
export class ApiUnavailableError extends EnvironmentError {
  /** The server's URL (never credentials). */
  readonly server: string;
  constructor(server: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.server = server;
  }
}

/** The fixed start of every {@link ApiUnavailableError} message, for readers of reports. */
export const API_UNAVAILABLE_PHRASE = 'stopped answering';

/**
 * The API-unavailable sentence inside a message from a report or another process (client-node
 * may prefix it, e.g. "Failed to fetch resource metadata for …: "); undefined when there is none.
 */
export function apiUnavailableSentence(message: string): string | undefined {
  const at = message.search(/The Kubernetes API server at \S+ stopped answering/);
  return at < 0 ? undefined : message.slice(at);
}

/** True when a message carries an API-unavailable sentence. */
export function isApiUnavailableMessage(message: string): boolean {
  return apiUnavailableSentence(message) !== undefined;
}

const unavailable = new Map<string, ApiUnavailableError>();

/** The step in progress: one per suite (they run concurrently in one process), else the run's. */
const stepScopes = new AsyncLocalStorage<{ step?: string | undefined }>();
const processStep: { step?: string | undefined } = {};

/** Names the step the run (or the calling suite) is in, for the message when the API server stops answering. */
export function setApiStep(step: string | undefined): void {
  (stepScopes.getStore() ?? processStep).step = step;
}

/** Runs `action` with its own step in progress, so that concurrent suites do not name each other's. */
export function withApiStepScope<T>(action: () => Promise<T>): Promise<T> {
  return stepScopes.run({}, action);
}

function currentStep(): string | undefined {
  return stepScopes.getStore()?.step ?? processStep.step;
}

/** The unavailability this process saw for `server`, if any. */
export function unavailability(server: string): ApiUnavailableError | undefined {
  return unavailable.get(server);
}

/** Forgets what this process concluded about every server (tests). */
export function resetApiHealth(): void {
  unavailable.clear();
  processStep.step = undefined;
}

/** Throws when this process already found `server` unavailable. */
export function assertAvailable(server: string): void {
  const known = unavailable.get(server);
  if (known) throw new ApiUnavailableError(server, known.message, { cause: known });
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds. */
export function retryAfterMs(
  header: string | null | undefined,
  now = Date.now(),
): number | undefined {
  if (header === null || header === undefined || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The verdict for an HTTP status answered to a request of the given idempotency. */
export function statusVerdict(
  status: number,
  idempotency: Idempotency,
  retryAfter?: number,
): AttemptVerdict {
  if (!RETRIED_STATUSES.has(status)) return { retry: false, unavailable: false };
  return {
    // A 429 is refused before the handler runs (facts/api-retry.ts): safe for any verb.
    retry: idempotency === 'idempotent' || status === 429,
    retryAfterMs: status === 429 || status === 503 ? retryAfter : undefined,
    unavailable: status !== 500,
  };
}

/** The verdict for an attempt that got no answer (timeout, reset, refused). */
export function transportVerdict(error: unknown, idempotency: Idempotency): AttemptVerdict {
  // A refused connection never delivered the request, so even a create may go again.
  return { retry: idempotency === 'idempotent' || isConnectionRefused(error), unavailable: true };
}

function isConnectionRefused(error: unknown): boolean {
  for (let at: unknown = error; at instanceof Error; at = (at as { cause?: unknown }).cause) {
    if ((at as NodeJS.ErrnoException).code === 'ECONNREFUSED') return true;
  }
  return false;
}

/** A short, credential-free text of an attempt's failure. */
export function failureText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  const code = cause instanceof Error ? (cause as NodeJS.ErrnoException).code : undefined;
  const causeText =
    cause instanceof Error && cause.message !== error.message
      ? ` (${code ? `${code}: ` : ''}${cause.message})`
      : '';
  return `${error.message}${causeText}`;
}

/** Options of {@link withApiRetries}. */
export interface ApiCall<T> {
  server: string;
  policy: ApiRetryPolicy;
  /** The request, for messages: `GET /api/v1/namespaces/x`. */
  what: string;
  /** One attempt; it must stop when `signal` aborts (its deadline). */
  attempt: (signal: AbortSignal) => Promise<T>;
  /** What may follow a failed attempt; a timed-out one arrives as an {@link AttemptTimeoutError}. */
  judge: (error: unknown) => AttemptVerdict;
  /** What to answer when retries end on a failure that is an answer (e.g. the last 500). */
  settle?: (error: unknown) => T | undefined;
}

/**
 * Runs `attempt` until it succeeds, the verdict says stop, or the budget is spent. A spent
 * budget on failures that mean "not serving" throws {@link ApiUnavailableError} and marks
 * the server unavailable for this process.
 */
export async function withApiRetries<T>({
  server,
  policy,
  what,
  attempt,
  judge,
  settle,
}: ApiCall<T>): Promise<T> {
  assertAvailable(server);
  const started = Date.now();
  let last: { error: unknown; verdict: AttemptVerdict } | undefined;
  try {
    return await pRetry(
      async () => {
        const deadline = new AbortController();
        const timer = setTimeout(
          () =>
            deadline.abort(
              new AttemptTimeoutError(`no answer within ${policy.attemptTimeoutMs} ms`),
            ),
          policy.attemptTimeoutMs,
        );
        try {
          return await attempt(deadline.signal);
        } catch (caught) {
          const error = deadline.signal.aborted ? (deadline.signal.reason as Error) : caught;
          const verdict = judge(error);
          last = { error, verdict };
          // p-retry never retries a TypeError (undici's "fetch failed"): carry it wrapped.
          const carried =
            error instanceof Error && !(error instanceof TypeError)
              ? error
              : new RetriedFailure(error);
          if (!verdict.retry) throw new AbortError(carried);
          throw carried;
        } finally {
          clearTimeout(timer);
        }
      },
      {
        retries: Number.POSITIVE_INFINITY,
        factor: 2,
        minTimeout: policy.minDelayMs,
        maxTimeout: policy.maxDelayMs,
        randomize: true,
        maxRetryTime: policy.budgetMs,
        async onFailedAttempt({ retriesConsumed }) {
          const asked = last?.verdict.retryAfterMs;
          if (asked === undefined) return;
          // p-retry then waits its own backoff, at least minDelay·2^n: wait the rest of what was asked.
          const backoff = policy.minDelayMs * 2 ** retriesConsumed;
          const remaining = policy.budgetMs - (Date.now() - started);
          const extra = Math.min(asked - backoff, remaining);
          if (extra > 0) await delay(extra);
        },
      },
    );
  } catch (caught) {
    const error = caught instanceof RetriedFailure ? caught.original : caught;
    if (last && last.error === error && last.verdict.retry && last.verdict.unavailable) {
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      const down = new ApiUnavailableError(
        server,
        `The Kubernetes API server at ${server} ${API_UNAVAILABLE_PHRASE}${currentStep() ? ` during ${currentStep()}` : ''}: ${what} got no usable answer in ${seconds} s of retries (last: ${failureText(error)}); check that the cluster's control plane is running and reachable from this machine, then rerun.`,
        { cause: error },
      );
      unavailable.set(server, down);
      throw down;
    }
    const settled = settle?.(error);
    if (settled !== undefined) return settled;
    throw error;
  }
}

/** Carries a non-Error or TypeError failure through p-retry. */
class RetriedFailure extends Error {
  readonly original: unknown;
  constructor(original: unknown) {
    super(original instanceof Error ? original.message : String(original));
    this.original = original;
  }
}
