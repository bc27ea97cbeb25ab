/**
 * Runs the selected suites in this process (harness/executor.ts), at most `parallel` at once,
 * prints each result as it comes, and writes the JUnit report from the results.
 */
import type { RunContext } from './run-context.ts';
import type { Suite } from './suite-definition.ts';
import { executeSuite } from './executor.ts';
import { redactSecrets, secretsFromKubeconfig } from './reporting/redact.ts';
import { renderJUnit, writeJUnit, type CaseResult } from './reporting/junit.ts';
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
  run,
  suites,
  junitPath,
  parallel,
  signal,
  log,
  verbose = false,
  colors = false,
}: {
  run: RunContext;
  suites: readonly Suite[];
  junitPath: string;
  /** Suites at once; all of them unless limited. */
  parallel?: number | undefined;
  signal: AbortSignal;
  log: (line: string) => void;
  /** Stack traces and causes under each failure. */
  verbose?: boolean;
  /** ANSI colours in the per-case lines and failures (a terminal). */
  colors?: boolean;
}): Promise<RunOutcome> {
  const startedAt = new Date();
  const terminal = new ConsoleReporter({ write: log, reportsDir: run.reportsDir, verbose, colors });
  const { timeouts } = run;
  // A case converges over several waits; its timeout is only a backstop above them.
  const testTimeoutMs =
    4 * timeouts.configPropagation + timeouts.policyEnforcement + 2 * timeouts.podReady + 60_000;
  const hookTimeoutMs =
    2 * timeouts.podReady +
    timeouts.gatewayProgrammed +
    timeouts.deletion +
    timeouts.configPropagation +
    60_000;
  // An error nothing awaited or caught (a bug, a library's stray rejection or 'error' event)
  // fails the run instead of passing unseen or ending the process before cleanup; the suites'
  // own errors are their cases' results.
  const unhandled: string[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason));
  };
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  const results: CaseResult[][] = [];
  try {
    let next = 0;
    const lanes = Math.max(1, Math.min(parallel ?? suites.length, suites.length));
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        for (let index = next++; index < suites.length; index = next++) {
          const suite = suites[index];
          if (!suite) continue;
          results[index] = await executeSuite(suite, {
            run,
            signal,
            testTimeoutMs,
            hookTimeoutMs,
            onCase: (entry) => terminal.onCase(entry),
            onBlockFailed: (entry) => terminal.onBlockFailed(entry),
          });
        }
      }),
    );
  } finally {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
  }
  const cases = results.flat();
  for (const message of unhandled) {
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
  terminal.onRunEnd(cases);
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
