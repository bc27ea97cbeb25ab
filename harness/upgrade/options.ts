/**
 * The command line of an upgrade run: `--upgrade-from A [--istio-version B]
 * [--upgrade-style in-place|canary] [--probe-interval MS] [--max-disruption N]`.
 */

/** How the control plane and data plane move from A to B. */
export type UpgradeStyle = 'in-place' | 'canary';
export const UPGRADE_STYLES: readonly UpgradeStyle[] = ['in-place', 'canary'];

/** Defaults of the upgrade flags, in one place. */
export const UPGRADE_DEFAULTS = {
  style: 'in-place' as UpgradeStyle,
  probeIntervalMs: 200,
  /**
   * Failed probe requests allowed: none. Holds with at least 2 ready gateway replicas and a
   * PodDisruptionBudget (the kind overlay sets both); a single-replica gateway keeps the same
   * default, because a rolling update surges a new pod before removing the old one (README).
   */
  maxDisruption: 0,
  gatewayReplicas: 2,
} as const;

/** Upgrade flags, parsed. */
export interface UpgradeOptions {
  from: string;
  to: string;
  style: UpgradeStyle;
  probeIntervalMs: number;
  maxDisruption: number;
}

/** The flags this module adds to the CLI's parseArgs table. */
export const UPGRADE_FLAGS = {
  'upgrade-from': { type: 'string' },
  'upgrade-style': { type: 'string' },
  'probe-interval': { type: 'string' },
  'max-disruption': { type: 'string' },
} as const;

/** Help lines for the upgrade flags. */
export const UPGRADE_HELP = `  --upgrade-from X.Y.Z        install this Istio first, upgrade to --istio-version while probes measure egress [off]
  --upgrade-style STYLE       in-place | canary [in-place]
  --probe-interval MS         one probe request per path every MS milliseconds (>= 60) [${UPGRADE_DEFAULTS.probeIntervalMs}]
  --max-disruption N          failed probe requests allowed per path [${UPGRADE_DEFAULTS.maxDisruption}]`;

/**
 * Parses the upgrade flags; undefined without `--upgrade-from`. A bad value throws
 * `usageError(message)`, so the CLI's own error type reaches its exit-2 path.
 */
export function parseUpgradeOptions(
  values: Record<string, unknown>,
  to: string,
  usageError: (message: string) => Error = (message) => new Error(message),
): UpgradeOptions | undefined {
  try {
    return parseValues(values, to);
  } catch (error) {
    throw usageError(error instanceof Error ? error.message : String(error));
  }
}

function parseValues(values: Record<string, unknown>, to: string): UpgradeOptions | undefined {
  const from = values['upgrade-from'] as string | undefined;
  const style = (values['upgrade-style'] as string | undefined) ?? UPGRADE_DEFAULTS.style;
  const interval = values['probe-interval'] as string | undefined;
  const max = values['max-disruption'] as string | undefined;
  if (from === undefined) {
    const stray = Object.keys(UPGRADE_FLAGS).find(
      (flag) => flag !== 'upgrade-from' && values[flag] !== undefined,
    );
    if (stray) throw new Error(`--${stray} needs --upgrade-from`);
    return undefined;
  }
  if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(from)) {
    throw new Error(`--upgrade-from "${from}" is not a version like 1.30.5`);
  }
  if (from === to)
    throw new Error(`--upgrade-from ${from} equals --istio-version; nothing to upgrade`);
  if (!(UPGRADE_STYLES as readonly string[]).includes(style)) {
    throw new Error(
      `unknown --upgrade-style "${style}"; valid values: ${UPGRADE_STYLES.join(', ')}`,
    );
  }
  const probeIntervalMs =
    interval === undefined ? UPGRADE_DEFAULTS.probeIntervalMs : Number(interval);
  if (!Number.isInteger(probeIntervalMs) || probeIntervalMs < 60 || probeIntervalMs > 60_000) {
    throw new Error(
      `--probe-interval takes milliseconds from 60 to 60000, got "${interval ?? ''}"`,
    );
  }
  const maxDisruption = max === undefined ? UPGRADE_DEFAULTS.maxDisruption : Number(max);
  if (!Number.isInteger(maxDisruption) || maxDisruption < 0) {
    throw new Error(`--max-disruption takes a whole number >= 0, got "${max ?? ''}"`);
  }
  return { from, to, style: style as UpgradeStyle, probeIntervalMs, maxDisruption };
}
