/**
 * The API server's own faults (`EGRESS_SIM_FAULTS=api-flaky` / `api-down`): they bend the
 * transport, not the mesh, so the product's Kubernetes adapter must cope (retries with
 * backoff, deadlines, exit 2 naming the server). Each request is judged on arrival, before
 * authentication and routing, exactly as a front proxy or an overloaded server would:
 *
 * - `api-flaky`: a share of requests (`EGRESS_SIM_API_FLAKY_RATE`, default 0.1) is answered
 *   429 with `Retry-After`, 500, 503, or by dropping the connection, chosen by a seeded
 *   generator (`EGRESS_SIM_API_SEED`) so a run's sequence of faults is reproducible. Exec and
 *   log requests are judged per request like the rest, so a retry gets through.
 * - `api-down`: after `EGRESS_SIM_API_DOWN_AFTER` requests (or `EGRESS_SIM_API_DOWN_AFTER_MS`
 *   after the server started) it stops answering: connections are still accepted and
 *   requests read, but nothing is ever sent back, the nastier case for a client (a refused
 *   connection fails at once; a silent one hangs without a deadline).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { THROTTLE_RETRY_AFTER_SECONDS } from '../../harness/facts/api-retry.ts';
import type { ApiFaultOptions } from '../types.ts';
import { internalError, rejectUpgrade, sendJson } from './responses.ts';
import { ApiError } from '../store/errors.ts';

/** How the `api-flaky` fault answers a request it picks. */
export type FlakyAnswer = 'throttled' | 'internal-error' | 'unavailable' | 'dropped';

const FLAKY_ANSWERS: readonly FlakyAnswer[] = [
  'throttled',
  'internal-error',
  'unavailable',
  'dropped',
];

/** mulberry32: a small seeded generator, enough for picking faults reproducibly. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The transport faults of one API server. */
export class ApiFaults {
  readonly #options: ApiFaultOptions;
  readonly #random: () => number;
  readonly #startedAt: number;
  readonly #now: () => number;
  /** What never gets an answer once the server is down: released only by {@link close}. */
  readonly #held = new Set<{ destroy(): void }>();
  #requests = 0;

  constructor(options: ApiFaultOptions, now: () => number = Date.now) {
    this.#options = options;
    this.#random = seededRandom(options.flaky?.seed ?? 1);
    this.#now = now;
    this.#startedAt = now();
  }

  /** Requests seen so far (every request and upgrade counts). */
  get requests(): number {
    return this.#requests;
  }

  /** True once `api-down` has taken the server down. */
  get down(): boolean {
    const down = this.#options.down;
    if (!down) return false;
    if (down.afterRequests !== undefined && this.#requests > down.afterRequests) return true;
    return down.afterMs !== undefined && this.#now() - this.#startedAt >= down.afterMs;
  }

  /** Judges a plain request; true when the fault took it (answered, dropped or held). */
  takeRequest(request: IncomingMessage, response: ServerResponse): boolean {
    const verdict = this.#judge();
    if (verdict === 'pass') return false;
    if (verdict === 'hold') {
      this.#hold(request.socket);
      return true;
    }
    switch (verdict) {
      case 'throttled':
        // The max-in-flight filter's answer: plain text, via Go's http.Error.
        response.writeHead(429, {
          'Retry-After': String(THROTTLE_RETRY_AFTER_SECONDS),
          'Content-Type': 'text/plain; charset=utf-8',
          'X-Content-Type-Options': 'nosniff',
        });
        response.end('Too many requests, please try again later.\n');
        break;
      case 'internal-error':
        sendJson(
          response,
          500,
          internalError(new Error('etcdserver: request timed out')).toStatus(),
        );
        break;
      case 'unavailable':
        sendJson(response, 503, unavailableError().toStatus());
        break;
      case 'dropped':
        request.socket.destroy();
        break;
    }
    return true;
  }

  /** Judges an upgrade (exec) request on its raw socket; true when the fault took it. */
  takeUpgrade(socket: Socket): boolean {
    const verdict = this.#judge();
    if (verdict === 'pass') return false;
    if (verdict === 'hold') {
      this.#hold(socket);
      return true;
    }
    switch (verdict) {
      case 'throttled':
        socket.end(
          `HTTP/1.1 429 Too Many Requests\r\nRetry-After: ${THROTTLE_RETRY_AFTER_SECONDS}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 43\r\nConnection: close\r\n\r\nToo many requests, please try again later.\n`,
        );
        break;
      case 'internal-error':
        rejectUpgrade(
          socket,
          500,
          internalError(new Error('etcdserver: request timed out')).toStatus(),
        );
        break;
      case 'unavailable':
        rejectUpgrade(socket, 503, unavailableError().toStatus());
        break;
      case 'dropped':
        socket.destroy();
        break;
    }
    return true;
  }

  /** Lets go of everything held (the server is closing). */
  close(): void {
    for (const held of this.#held) held.destroy();
    this.#held.clear();
  }

  #judge(): FlakyAnswer | 'hold' | 'pass' {
    this.#requests += 1;
    if (this.down) return 'hold';
    const flaky = this.#options.flaky;
    if (!flaky) return 'pass';
    // Two draws per request whatever the outcome, so one request's fate never shifts another's.
    const picked = this.#random() < flaky.rate;
    const answer = FLAKY_ANSWERS[Math.floor(this.#random() * FLAKY_ANSWERS.length)];
    return picked && answer ? answer : 'pass';
  }

  #hold(socket: Socket): void {
    this.#held.add(socket);
    socket.once('close', () => this.#held.delete(socket));
  }
}

function unavailableError(): ApiError {
  return new ApiError(
    503,
    'ServiceUnavailable',
    'the server is currently unable to handle the request',
  );
}
