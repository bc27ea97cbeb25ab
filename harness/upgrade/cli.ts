/**
 * The CLI's entry into upgrade runs: owns the run's signal handling (SIGINT 130, SIGTERM 143
 * after cleanup; a second signal says what may be left, as plain runs do) and the run
 * directory, and creates providers through the CLI's own factory.
 */
import { rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { CliOptions, createProvider as CreateProvider } from '../cli.ts';
import type { RunPlace } from '../leftovers.ts';
import { handleInterrupts, signalExitCode } from '../signals.ts';
import { runUpgrade } from './run.ts';

/** What cli.ts hands over once the flags are parsed and the outputs checked. */
export interface UpgradeCliContext {
  options: CliOptions;
  runId: string;
  runDir: string;
  reportsDir: string;
  argv: readonly string[];
  say: (line: string) => void;
  complain: (line: string) => void;
  /** The CLI's provider factory (which holds the one dynamic import of the simulated cluster). */
  createProvider: typeof CreateProvider;
}

/** Runs the upgrade the flags ask for and returns the exit code. */
export async function upgradeFromCli(context: UpgradeCliContext): Promise<number> {
  const { options, runId, runDir, say, complain, createProvider } = context;
  const upgrade = options.upgrade;
  if (!upgrade) throw new Error('upgradeFromCli without upgrade flags');
  const place = (): RunPlace => ({
    ...options,
    runId,
    // `--disruption start` keeps the cluster for `check`, which takes over the probes of `--id`.
    keepCluster: upgrade.mode === 'start' || options.keepCluster,
    ...(upgrade.mode === 'check' ? { probesOf: upgrade.id } : {}),
  });
  const abort = new AbortController();
  const interrupts = handleInterrupts({
    place,
    complain,
    cancel: () => abort.abort(),
    // The run folder holds a kubeconfig (credentials); upgrade runs never keep it.
    beforeExit: () => rmSync(runDir, { recursive: true, force: true }),
  });
  try {
    const code = await runUpgrade({
      ...context,
      upgrade,
      place,
      signal: abort.signal,
      createProvider: (istioVersion) =>
        createProvider({ ...options, istioVersion }, runId, runDir, say, abort.signal),
    });
    return interrupts.signal ? signalExitCode(interrupts.signal) : code;
  } finally {
    interrupts.stop();
    await rm(runDir, { recursive: true, force: true });
  }
}
