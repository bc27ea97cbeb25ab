/**
 * The CLI's entry into upgrade runs: owns the run's signal handling (SIGINT 130, SIGTERM 143
 * after cleanup) and the run directory, and creates providers through the CLI's own factory.
 */
import { rm } from 'node:fs/promises';
import type { CliOptions, createProvider as CreateProvider } from '../cli.ts';
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
  const abort = new AbortController();
  let interruptedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interruptedBy) process.exit(signal === 'SIGTERM' ? 143 : 130);
    interruptedBy = signal;
    complain(`interrupted by ${signal}: cleaning up what this run created`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const code = await runUpgrade({
      ...context,
      upgrade,
      signal: abort.signal,
      createProvider: (istioVersion) =>
        createProvider({ ...options, istioVersion }, runId, runDir, say, abort.signal),
    });
    if (interruptedBy) return interruptedBy === 'SIGTERM' ? 143 : 130;
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await rm(runDir, { recursive: true, force: true });
  }
}
