/**
 * Parsers of single CLI flag values, each throwing {@link UsageError} with one line that names
 * the valid choices (split from cli.ts, which keeps the flag table and the run).
 */
import { TIMEOUT_NAMES, resolveTimeouts, type TimeoutConfig } from './timeouts.ts';

/** A mistake in the command line: exit 2 with one line naming the valid choices. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `--external`: where the external hosts come from. */
export type ExternalOption = { mode: 'local' | 'internet' | 'host'; hostName?: string } | undefined;

/** `--gateway-label KEY=VALUE`. */
export type LabelOption = { key: string; value: string } | undefined;

export function parseExternal(value: string | undefined): ExternalOption {
  if (value === undefined) return undefined;
  if (value === 'local' || value === 'internet') return { mode: value };
  const host = /^host:([a-z0-9]([a-z0-9.-]*[a-z0-9])?)$/i.exec(value)?.[1];
  if (host) return { mode: 'host', hostName: host.toLowerCase() };
  throw new UsageError(
    `unknown --external "${value}"; valid values: local, internet, host:<dns-name>`,
  );
}

export function parsePositive(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(value))
    throw new UsageError(`${flag} takes a whole number >= 1, got "${value}"`);
  return Number(value);
}

export function parseLabel(value: string | undefined): LabelOption {
  if (value === undefined) return undefined;
  const match = /^([\w./-]+)=([\w.-]+)$/.exec(value);
  if (!match?.[1] || !match[2]) {
    throw new UsageError(`bad --gateway-label "${value}"; use key=value, e.g. istio=egressgateway`);
  }
  return { key: match[1], value: match[2] };
}

export function parseTimeouts(entries: readonly string[]): Partial<TimeoutConfig> {
  const overrides: Partial<Record<string, number>> = {};
  for (const entry of entries) {
    const match = /^([a-zA-Z]+)=(\d+)(ms|s)?$/.exec(entry);
    if (!match?.[1] || !(TIMEOUT_NAMES as string[]).includes(match[1])) {
      throw new UsageError(
        `bad --timeout "${entry}"; use name=milliseconds (or name=Ns) with a name from: ${TIMEOUT_NAMES.join(', ')}`,
      );
    }
    overrides[match[1]] = Number(match[2]) * (match[3] === 's' ? 1000 : 1);
  }
  // Bounds are checked here, before any cluster work, so a bad value is a usage error.
  try {
    resolveTimeouts(overrides);
  } catch (error) {
    throw new UsageError(
      `bad --timeout: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return overrides;
}
