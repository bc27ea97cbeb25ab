/**
 * The evidence checks the suites are made of, named `<subject>Must<condition>` as in
 * Gateway API's conformance suite. Each sends requests, reads the gateway's evidence,
 * converges over N consecutive observations, and fails with what it saw and a hint.
 */
import { converge, ConvergenceTimeoutError, poll, type Convergence } from './wait.ts';
import { describeCurlResult, type CurlResult } from './curl.ts';
import {
  DEFAULT_CLOCK_SKEW_MS,
  describeEntries,
  findGatewayEntries,
  type GatewayEntryMatch,
} from './envoy/evidence.ts';
import type { AccessLogEntry } from './envoy/access-log.ts';
import type { Client, GatewayLog, SuiteEnvironment } from './suite.ts';
import type { ExternalHost } from './providers/types.ts';
import { ConformanceFailure } from './errors.ts';

/** One request and what the gateway logged for it. */
export interface RequestObservation {
  url: string;
  sentAt: Date;
  result: CurlResult;
  /** Gateway entries attributed to this request. */
  matched: AccessLogEntry[];
  /** Everything the gateway logged in the window, for messages. */
  window: GatewayLog;
  /**
   * The gateway's counter for the expected upstream cluster around the request, read
   * when the log held nothing: it tells "bypassed" from "forwarded but not logged".
   */
  counter?: { name: string; before: number; after: number };
}

/**
 * Sends one request and reads the gateway's log for it. When an entry is expected it
 * polls until the entry appears or the access-log flush window ends; when none is
 * expected it watches the whole window, since Envoy flushes access logs periodically.
 */
export async function observeRequest(
  env: SuiteEnvironment,
  client: Client,
  {
    url,
    match,
    expectEntry,
    exclude,
    headers,
    resolve,
  }: {
    url: string;
    /** How this request's entries are recognised (the time window is added here). */
    match: GatewayEntryMatch;
    expectEntry: boolean;
    /** Raw lines already attributed to earlier requests. */
    exclude?: ReadonlySet<string>;
    headers?: Record<string, string>;
    resolve?: string[];
  },
): Promise<RequestObservation> {
  const sentAt = new Date(Date.now() - DEFAULT_CLOCK_SKEW_MS);
  const result = await env.curl(client, {
    url,
    ...(headers ? { headers } : {}),
    ...(resolve ? { resolve } : {}),
  });
  const flush = env.run.timeouts.accessLogFlush;
  const read = await poll({
    what: `the gateway's access-log entry for ${url}`,
    observe: async () => {
      const window = await env.gatewayLog(sentAt);
      window.entries = window.entries.filter((entry) => entry.startTime >= sentAt);
      // sentAt already allows for clock skew, hence none on top.
      const matched = findGatewayEntries(window.entries, {
        ...match,
        since: sentAt,
        clockSkewMs: 0,
      }).filter((entry) => !exclude?.has(entry.raw));
      return { window, matched };
    },
    // Without an expected entry the whole window is watched: a late entry must still count.
    done: ({ matched }) => expectEntry && matched.length > 0,
    timeoutMs: flush,
    intervalMs: Math.min(env.run.timeouts.pollInterval, flush),
  });
  if (!read.last.ok) throw read.last.error;
  const { window, matched } = read.last.value;
  return { url, sentAt, result, matched, window };
}

/** Whether the response is the external host's own answer (not a proxy's). */
export function hostAnswered(
  host: ExternalHost,
  result: CurlResult,
  scheme: 'http' | 'https',
): true | string {
  const expected = host.expect[scheme];
  if (result.exitCode !== 0) return `the request failed: ${describeCurlResult(result)}`;
  if (result.status === 0) return `no HTTP answer arrived: ${describeCurlResult(result)}`;
  // Status 0 means "any HTTP answer" (a host the user named, whose content we do not know).
  if (expected.status !== 0 && result.status !== expected.status) {
    return `expected HTTP ${expected.status} from ${host.name}, got ${describeCurlResult(result)}${proxyHint(result)}`;
  }
  if (expected.header) {
    const value = result.headers[expected.header.name.toLowerCase()];
    if (value !== expected.header.value) {
      return `the answer lacks ${host.name}'s identifying header ${expected.header.name}: ${expected.header.value} (got ${value ?? 'none'}), so something else answered`;
    }
  }
  if (scheme === 'http' && 'locationPrefix' in expected && expected.locationPrefix) {
    const location = result.headers.location ?? '';
    if (!location.startsWith(expected.locationPrefix)) {
      return `expected a redirect to ${expected.locationPrefix}…, got location "${location}"`;
    }
  }
  return true;
}

function proxyHint(result: CurlResult): string {
  const server = result.headers.server;
  return server === 'envoy' || server === 'istio-envoy'
    ? ' (answered by Envoy, not the external host)'
    : '';
}

/** A compact account of one observation for failure messages. */
export function describeObservation(observation: RequestObservation): string {
  const { result, window } = observation;
  const pods = window.pods.length > 0 ? window.pods.join(', ') : 'no ready gateway pod';
  return [
    `request ${observation.url}: ${describeCurlResult(result)}`,
    `gateway log (${pods}) since ${observation.sentAt.toISOString()}: ${
      window.entries.length === 0
        ? 'no access-log entries at all'
        : describeEntries(window.entries, 10)
    }`,
  ].join('\n  ');
}

/** The reason a gateway entry is missing, telling "no log at all" apart from "not ours". */
export function missingEntryReason(observation: RequestObservation, expected: string): string {
  if (observation.window.pods.length === 0) {
    return 'no ready egress gateway pod was found, so there is no gateway evidence';
  }
  if (observation.window.entries.length === 0) {
    const counter = observation.counter;
    if (counter && counter.after > counter.before) {
      return `the gateway forwarded the request (its counter ${counter.name} rose from ${counter.before} to ${counter.after}) but wrote no access-log entry for it (evidence missing: the gateway does not write access logs; check meshConfig.accessLogFile and the gateway's proxy config), expected ${expected}`;
    }
    const stayed = counter
      ? ` and its counter ${counter.name} stayed at ${counter.after}, so the traffic bypassed the gateway`
      : '';
    return `the request did not pass through the egress gateway: the gateway wrote no access-log entry at all in the window${stayed} (evidence missing: either the traffic bypassed the gateway or the gateway does not write access logs; check meshConfig.accessLogFile), expected ${expected}`;
  }
  return `the request did not pass through the egress gateway: the gateway logged ${observation.window.entries.length} entries in the window but none ${expected}`;
}

/**
 * Runs a convergence; when it runs out of budget, fails the behaviour with a
 * {@link ConformanceFailure} whose fields say what was expected, what was last seen, how
 * long it waited and what to check next.
 */
export async function establish<O>(
  behaviour: string,
  env: SuiteEnvironment,
  {
    timeoutMs = env.run.timeouts.configPropagation,
    ...options
  }: {
    what: string;
    observe: () => Promise<O>;
    check: (observation: O) => true | string;
    describe: (observation: O) => string;
    hint: string;
    timeoutMs?: number;
  },
): Promise<Convergence<O>> {
  let convergence: Convergence<O>;
  try {
    convergence = await converge({
      required: env.run.requiredObservations,
      timeoutMs,
      intervalMs: env.run.timeouts.pollInterval,
      ...options,
    });
  } catch (error) {
    if (error instanceof ConvergenceTimeoutError) throw behaviourFailed(behaviour, error);
    throw error;
  }
  // Recorded on the environment, which the suite runner copies into the case's report.
  env.convergence.push({
    behaviour,
    observations: convergence.observations,
    flips: convergence.flips,
    elapsedMs: convergence.elapsedMs,
  });
  return convergence;
}

/** The failure of a behaviour whose convergence ran out of budget, field for field. */
function behaviourFailed(behaviour: string, timeout: ConvergenceTimeoutError): ConformanceFailure {
  return new ConformanceFailure({
    behaviour,
    expected: timeout.what,
    reason: timeout.reason,
    observed: timeout.observed,
    hint: timeout.hint,
    observations: timeout.observations,
    elapsedMs: timeout.elapsedMs,
    budgetMs: timeout.budgetMs,
    required: timeout.required,
    flips: timeout.flips,
  });
}
