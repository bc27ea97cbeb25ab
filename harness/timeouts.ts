/**
 * The single timeout configuration. Every wait in the harness and the suites takes its
 * budget from here, by name; `--timeout name=ms` overrides one. Defaults are sized for a
 * kind cluster on a CI runner; they are upper bounds, and polls return as soon as the
 * observable converges.
 */

/** Each kind of wait, in milliseconds. */
export interface TimeoutConfig {
  /** `kind create cluster` until the API server answers. */
  clusterCreate: number;
  /** `istioctl install` until istiod and the egress gateway are ready. */
  istioInstall: number;
  /** A Deployment's pods (client workloads) becoming ready, image pull included. */
  podReady: number;
  /** A namespace or object disappearing after delete. */
  deletion: number;
  /** Applied Istio config reaching the proxies (xDS push): the max time to consistency. */
  configPropagation: number;
  /** A NetworkPolicy being enforced for new pods (kindnet applies it asynchronously). */
  policyEnforcement: number;
  /** Time an access-log line may take to appear after its request (Envoy flushes periodically). */
  accessLogFlush: number;
  /** One exec round trip (curl itself is bounded by `request`). */
  exec: number;
  /** curl's --max-time for one request. */
  request: number;
  /** Pause between disagreeing observations. */
  pollInterval: number;
  /** Waiting for another run to give back shared namespace labels (istio-system, kube-system). */
  sharedNamespaceLock: number;
  /**
   * One attempt of one Kubernetes API request: connecting, the answer's headers and its
   * whole body (a log read included), or the opening handshake of an exec stream.
   */
  apiRequest: number;
  /**
   * How long failing API requests are retried (with backoff, honouring `Retry-After`)
   * before the API server counts as unavailable and the run ends with exit 2.
   */
  apiUnavailable: number;
  /** A borrowed-labels lock whose holder has not renewed it for this long is taken over. */
  sharedNamespaceLockStale: number;
}

/**
 * The longest any wait may be: beyond 2^31-1 ms Node's timers fire at once (with only a
 * warning), so a budget of 10^12 ms would silently become zero; a day bounds every real wait.
 */
export const MAX_TIMEOUT_MS = 86_400_000;

/** Consecutive agreeing observations a convergence needs (Gateway API conformance uses 3). */
export const REQUIRED_CONSECUTIVE_OBSERVATIONS = 3;

/** Defaults for real clusters. */
export const DEFAULT_TIMEOUTS: Readonly<TimeoutConfig> = Object.freeze({
  clusterCreate: 300_000,
  istioInstall: 600_000,
  podReady: 180_000,
  deletion: 180_000,
  configPropagation: 60_000,
  policyEnforcement: 60_000,
  accessLogFlush: 3_000,
  exec: 30_000,
  request: 5_000,
  pollInterval: 250,
  sharedNamespaceLock: 900_000,
  apiRequest: 30_000,
  apiUnavailable: 60_000,
  sharedNamespaceLockStale: 120_000,
});

/** The names, for `--help` and validation of `--timeout`. */
export const TIMEOUT_NAMES = Object.keys(DEFAULT_TIMEOUTS) as (keyof TimeoutConfig)[];

/** One-line documentation of each timeout, shown by `--help`. */
export const TIMEOUT_DOCS: Record<keyof TimeoutConfig, string> = {
  clusterCreate: 'kind create cluster until the API server answers',
  istioInstall: 'istioctl install until istiod and the egress gateway are ready',
  podReady: 'client pods becoming ready (image pull included)',
  deletion: 'a namespace or object disappearing after delete',
  configPropagation: 'applied Istio config reaching the proxies (max time to consistency)',
  policyEnforcement: 'a NetworkPolicy being enforced for new pods',
  accessLogFlush: 'an access-log line appearing after its request',
  exec: 'one exec round trip into a pod',
  request: "curl's --max-time for one request",
  pollInterval: 'pause between disagreeing observations',
  sharedNamespaceLock: 'another run giving back istio-system/kube-system labels it borrowed',
  apiRequest: 'one API request attempt (answer and whole body) or exec handshake',
  apiUnavailable: 'retrying failing API requests before the API server counts as down',
  sharedNamespaceLockStale:
    "a borrowed-labels lock not renewed this long is taken over (holder's labels restored)",
};

/** Merges overrides over defaults; rejects unknown names and non-positive values. */
export function resolveTimeouts(...layers: Partial<Record<string, number>>[]): TimeoutConfig {
  const result: TimeoutConfig = { ...DEFAULT_TIMEOUTS };
  for (const layer of layers) {
    for (const [name, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      if (!(TIMEOUT_NAMES as string[]).includes(name)) {
        throw new Error(`unknown timeout "${name}"; valid names: ${TIMEOUT_NAMES.join(', ')}`);
      }
      if (!Number.isInteger(value) || value < 1 || value > MAX_TIMEOUT_MS) {
        throw new Error(
          `timeout "${name}" must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS} (24 h), got ${value}`,
        );
      }
      result[name as keyof TimeoutConfig] = value;
    }
  }
  return result;
}
