/**
 * Runs the selected suite files through vitest's programmatic API, hands them the run
 * context with `provide`, and writes the reports from what the reporter collected.
 */
import path from 'node:path';
import { createVitest } from 'vitest/node';
import type { RunContext } from './run-context.ts';
import type { Suite } from './suite-definition.ts';
import { suiteFile } from '../suites/index.ts';
import { redactSecrets, secretsFromKubeconfig } from './reporting/redact.ts';
import { CollectingReporter, renderJUnit, writeJUnit, type CaseResult } from './reporting/junit.ts';
import { ConsoleReporter } from './reporting/console.ts';

/** Counts of a finished run, plus the cases for the other reports. */
export interface RunOutcome {
  passed: number;
  failed: number;
  skipped: number;
  /** Failures that are the environment's (e.g. no egress at all), not the mesh's. */
  environmentErrors: string[];
  cases: CaseResult[];
}

/** Runs the suites and writes the JUnit report; failures are counted, not thrown. */
export async function runSuites({
  projectRoot,
  run,
  suites,
  junitPath,
  parallel,
  signal,
  log,
  verbose = false,
  colors = false,
}: {
  projectRoot: string;
  run: RunContext;
  suites: readonly Suite[];
  junitPath: string;
  /** Suites at once; all of them unless limited. */
  parallel?: number | undefined;
  signal: AbortSignal;
  argv: readonly string[];
  log: (line: string) => void;
  /** Vitest's own reporter too: code frames, stack traces and error causes. */
  verbose?: boolean;
  /** ANSI colours in the per-test lines and failures (a terminal). */
  colors?: boolean;
}): Promise<RunOutcome> {
  const startedAt = new Date();
  const collector = new CollectingReporter();
  // Each failure once, from its fields; vitest's reporter (frames, stacks, causes) only when verbose.
  const terminal = new ConsoleReporter({
    write: log,
    reportsDir: run.reportsDir,
    progress: !verbose,
    colors,
  });
  const { timeouts } = run;
  // A test converges over several waits; the vitest timeout is only a backstop above them.
  const testTimeout =
    4 * timeouts.configPropagation + timeouts.policyEnforcement + 2 * timeouts.podReady + 60_000;
  const hookTimeout =
    2 * timeouts.podReady +
    timeouts.gatewayProgrammed +
    timeouts.deletion +
    timeouts.configPropagation +
    60_000;
  const files = suites.map((suite) => path.join(projectRoot, suiteFile(suite)));
  const ownListeners = new Set([...process.listeners('SIGINT'), ...process.listeners('SIGTERM')]);
  // Vitest's logger registers SIGINT/SIGTERM listeners that exit the process; they exist
  // from inside createVitest until removed below. A signal in that window must not end the
  // run before cleanup: the CLI's own listener (registered first) aborts `signal`, and an
  // exit requested after that is ignored.
  const exit = process.exit.bind(process);
  process.exit = (code?: number | string | null) =>
    signal.aborted ? (undefined as never) : exit(code);
  const vitest = await createVitest(
    'test',
    {
      root: projectRoot,
      config: false,
      watch: false,
      run: true,
      include: ['suites/**/*.test.ts'],
      reporters: verbose ? ['default', terminal, collector] : [terminal, collector],
      provide: { run },
      testTimeout,
      hookTimeout,
      teardownTimeout: timeouts.deletion,
      pool: 'forks',
      // A worker runs its suites one after another in one module graph: `--parallel N` costs N
      // processes loading the Kubernetes client and the harness, not one per suite. The suites
      // share no module state (each builds its own environment from the run context).
      isolate: false,
      maxWorkers: Math.max(1, Math.min(parallel ?? suites.length, suites.length)),
      fileParallelism: (parallel ?? suites.length) > 1,
      passWithNoTests: false,
      // Reruns would hide exactly the flakiness the reports must show.
      retry: 0,
    },
    {},
    {},
  ).finally(() => {
    process.exit = exit;
  });
  // Vitest's logger exits the process on SIGINT; the CLI must stay alive to clean up.
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    for (const listener of process.listeners(name)) {
      if (!ownListeners.has(listener)) process.off(name, listener);
    }
  }
  const onAbort = (): void => {
    void vitest.cancelCurrentRun('keyboard-input');
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    // Interrupted while vitest started: no test runs, the CLI goes straight to cleanup.
    if (!signal.aborted) await vitest.start(files);
    await vitest.close();
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  const cases = collector.cases;
  for (const message of collector.unhandled) {
    cases.push({
      suite: 'run',
      group: 'run',
      name: 'unhandled error',
      state: 'failed',
      durationMs: 0,
      message,
      meta: {},
    });
  }
  // Error messages can quote API responses; nothing from the kubeconfig may reach a report.
  const secrets = await secretsFromKubeconfig(run.target.kubeconfigPath);
  await writeJUnit(junitPath, redactSecrets(renderJUnit(run, cases, startedAt), secrets));
  log(`JUnit report written to ${junitPath}`);
  return {
    passed: cases.filter((entry) => entry.state === 'passed').length,
    failed: cases.filter((entry) => entry.state === 'failed').length,
    skipped: cases.filter((entry) => entry.state === 'skipped').length,
    environmentErrors: cases
      .filter((entry) => entry.state === 'failed' && entry.errorName === 'EnvironmentError')
      .map((entry) => entry.message ?? entry.name),
    cases,
  };
}
