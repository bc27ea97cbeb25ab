/**
 * The command line of an upgrade run: `--upgrade-from A [--istio-version B]
 * [--upgrade-style in-place|canary] [--probe-interval MS] [--max-disruption N]`, or the
 * two-phase mode for clusters someone else upgrades: `--disruption start` then
 * `--disruption check --id ID`.
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

/**
 * What the flags ask for: the whole upgrade (`upgrade`), or one half of the two-phase mode
 * (`start`: probes and phase before; `check`: the probes' records, phase after, cleanup).
 */
export type UpgradeMode = 'upgrade' | 'start' | 'check';

/** Upgrade flags, parsed. */
export interface UpgradeOptions {
  mode: UpgradeMode;
  /** The version installed first (`upgrade`); the running one otherwise, known once detected. */
  from: string;
  /** The version upgraded to (`upgrade`); the running one after the user's upgrade otherwise. */
  to: string;
  /** `--id` of `--disruption check`: the run id `--disruption start` printed. */
  id?: string;
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
  disruption: { type: 'string' },
  id: { type: 'string' },
} as const;

/** Help lines for the upgrade flags. */
export const UPGRADE_HELP = `  --upgrade-from X.Y.Z        install this Istio first, upgrade to --istio-version while probes measure egress [off]
  --upgrade-style STYLE       in-place | canary [in-place]
  --probe-interval MS         one probe request per path every MS milliseconds (>= 60) [${UPGRADE_DEFAULTS.probeIntervalMs}]
  --max-disruption N          failed probe requests allowed per path [${UPGRADE_DEFAULTS.maxDisruption}]
  --disruption start|check    clusters upgraded by other tooling: start = probes + phase before, prints an id;
                                check --id ID = the probes' records, phase after, report, cleanup [off]
  --id ID                     the id --disruption start printed`;

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
  const disruption = values.disruption as string | undefined;
  const id = values.id as string | undefined;
  if (from === undefined && disruption === undefined) {
    const stray = Object.keys(UPGRADE_FLAGS).find((flag) => values[flag] !== undefined);
    if (stray) throw new Error(`--${stray} needs --upgrade-from or --disruption`);
    return undefined;
  }
  if (from !== undefined && disruption !== undefined) {
    throw new Error(
      '--upgrade-from and --disruption exclude each other: --upgrade-from upgrades the cluster itself, --disruption measures an upgrade done by other tooling',
    );
  }
  if (disruption !== undefined && disruption !== 'start' && disruption !== 'check') {
    throw new Error(`unknown --disruption "${disruption}"; valid values: start, check`);
  }
  if (disruption === 'check' && (id === undefined || !/^[a-z0-9]{1,12}$/.test(id))) {
    throw new Error(
      `--disruption check needs --id with the id --disruption start printed (lowercase letters and digits), got "${id ?? ''}"`,
    );
  }
  if (disruption !== 'check' && id !== undefined) {
    throw new Error('--id belongs to --disruption check');
  }
  if (disruption !== undefined && values['upgrade-style'] !== undefined) {
    throw new Error(
      '--upgrade-style belongs to --upgrade-from: with --disruption your tooling upgrades',
    );
  }
  if (from !== undefined && !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(from)) {
    throw new Error(`--upgrade-from "${from}" is not a version like 1.30.5`);
  }
  if (from !== undefined && from === to)
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
  return {
    mode: disruption === undefined ? 'upgrade' : disruption,
    from: from ?? to,
    to,
    ...(id === undefined ? {} : { id }),
    style: style as UpgradeStyle,
    probeIntervalMs,
    maxDisruption,
  };
}

/**
 * The gateway replicas a provider that installs Istio should ask for: 2 for an upgrade run
 * (with the PodDisruptionBudget the overlay then requests), the chart's default otherwise.
 */
export function gatewayReplicasFor(upgrade: UpgradeOptions | undefined): {
  gatewayReplicas?: number;
} {
  return upgrade?.mode === 'upgrade' ? { gatewayReplicas: UPGRADE_DEFAULTS.gatewayReplicas } : {};
}
