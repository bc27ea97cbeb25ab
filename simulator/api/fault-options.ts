/** Reading the API server's faults from `EGRESS_SIM_FAULTS` and `EGRESS_SIM_API_*`. */
import type { ApiFaultName, ApiFaultOptions } from '../types.ts';

/** Share of requests `api-flaky` fails when `EGRESS_SIM_API_FLAKY_RATE` is not set. */
export const DEFAULT_FLAKY_RATE = 0.1;

/**
 * Requests `api-down` answers before it stops, when neither `EGRESS_SIM_API_DOWN_AFTER` nor
 * `EGRESS_SIM_API_DOWN_AFTER_MS` is set: past the simulated provider's own requests and a
 * suite's setup, so the outage hits a run in the middle of its suites.
 */
export const DEFAULT_DOWN_AFTER_REQUESTS = 30;

/**
 * The options of the named API faults; undefined when none is named. Throws on a malformed
 * setting (a rate outside 0..1, a negative or fractional count).
 */
export function readApiFaultOptions(
  names: ReadonlySet<ApiFaultName>,
  env: Record<string, string | undefined>,
): ApiFaultOptions | undefined {
  if (names.size === 0) return undefined;
  const options: ApiFaultOptions = {};
  if (names.has('api-flaky')) {
    const rawRate = env.EGRESS_SIM_API_FLAKY_RATE;
    const rate =
      rawRate === undefined || rawRate.trim() === '' ? DEFAULT_FLAKY_RATE : Number(rawRate);
    if (!Number.isFinite(rate) || rate < 0 || rate > 1) {
      throw new Error(`EGRESS_SIM_API_FLAKY_RATE must be a number from 0 to 1, got "${rawRate}"`);
    }
    options.flaky = { rate, seed: count(env, 'EGRESS_SIM_API_SEED') ?? 1 };
  }
  if (names.has('api-down')) {
    const afterRequests = count(env, 'EGRESS_SIM_API_DOWN_AFTER');
    const afterMs = count(env, 'EGRESS_SIM_API_DOWN_AFTER_MS');
    options.down =
      afterRequests === undefined && afterMs === undefined
        ? { afterRequests: DEFAULT_DOWN_AFTER_REQUESTS }
        : {
            ...(afterRequests !== undefined ? { afterRequests } : {}),
            ...(afterMs !== undefined ? { afterMs } : {}),
          };
  }
  return options;
}

function count(env: Record<string, string | undefined>, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  }
  return value;
}
