/**
 * The frame every upgrade entry runs in (the whole upgrade, `--disruption start`,
 * `--disruption check`): the cluster opened, the entry's own steps, then one ending whatever
 * happened: the error said once (with what may be left when the API server stopped
 * answering), the probe namespaces the run still owns deleted, the cluster released, every
 * report written with the `upgrade` section.
 */
import { EXIT_CONFORMANCE_FAILURE, EXIT_ENVIRONMENT_ERROR, EXIT_PASSED } from '../errors.ts';
import { ApiUnavailableError } from '../k8s/retry.ts';
import { environmentErrorLines, leftoversSentence } from '../leftovers.ts';
import type { ClusterProvider } from '../providers/types.ts';
import type { CaseResult } from '../reporting/junit.ts';
import { createRunReport, type RunReport } from '../reporting/conformance-report.ts';
import type { PathDisruption, UpgradeStep } from './disruption.ts';
import { probeNamespace, probePathsFor, startProbes, type ProbeSet } from './probes.ts';
import { finishUpgradeReports, upgradeSection, type SectionNotes } from './report.ts';
import {
  deleteProbeNamespaces,
  openSession,
  runPhase,
  type Session,
  type UpgradeRunOptions,
} from './session.ts';

/** What an entry's steps work on, and what the ending reports and cleans up. */
export interface Entry {
  run: UpgradeRunOptions;
  session: Session;
  report: RunReport;
  cases: CaseResult[];
  environmentErrors: string[];
  started: Date;
  /** The upgrade's timed steps (in `check`: the window of the other tooling's upgrade). */
  steps: UpgradeStep[];
  /** The disruption table, once measured. */
  rows: PathDisruption[];
  /** What the `upgrade` section says beside the table. */
  notes: SectionNotes;
  /** Probe namespaces the ending deletes: unset once handed over to `check` or deleted. */
  probes?: { runId: string; namespaces: string[] };
}

/** The report every upgrade run starts with. */
export function upgradeReport(run: UpgradeRunOptions): RunReport {
  const { options } = run;
  return createRunReport({
    runId: run.runId,
    argv: run.argv,
    requested: {
      clusterKind: options.cluster,
      suites: options.suites,
      mtlsModes: options.mtlsModes,
      external: options.external,
      istioVersion: run.upgrade.to,
      keepOnFailure: options.keepOnFailure,
    },
  });
}

/** The exit code from the cases, the environment errors and the signal. */
export function exitCode(
  run: UpgradeRunOptions,
  cases: readonly CaseResult[],
  environmentErrors: readonly string[],
): number {
  if (run.signal.aborted) return 130;
  if (environmentErrors.length > 0) return EXIT_ENVIRONMENT_ERROR;
  return cases.some((entry) => entry.state === 'failed') ? EXIT_CONFORMANCE_FAILURE : EXIT_PASSED;
}

/** Opens the cluster (installing `istioVersion` where the provider installs Istio), runs `body`, ends. */
export async function runEntry(
  run: UpgradeRunOptions,
  {
    istioVersion,
    keepCluster,
    id,
    body,
  }: {
    istioVersion: string;
    keepCluster: boolean;
    /** Two-phase mode: the id `check` takes. */
    id?: string;
    body: (entry: Entry) => Promise<void>;
  },
): Promise<number> {
  const started = new Date();
  const report = upgradeReport(run);
  const measured: Pick<Entry, 'cases' | 'environmentErrors' | 'steps' | 'rows' | 'notes'> = {
    cases: [],
    environmentErrors: [],
    steps: [],
    rows: [],
    notes: { precheckWarnings: [], analyze: [], proxyVersions: [], ...(id ? { id } : {}) },
  };
  let provider: ClusterProvider | undefined;
  let entry: Entry | undefined;
  let code: number;
  try {
    const session = await openSession(run, istioVersion, (created) => (provider = created));
    report.target = session.target;
    entry = { ...measured, run, session, report, started };
    await body(entry);
    if (!run.signal.aborted) {
      for (const line of environmentErrorLines(entry.environmentErrors, run.place()).lines) {
        run.complain(line);
      }
    }
    code = exitCode(run, entry.cases, entry.environmentErrors);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    run.complain(message.split('\n')[0] ?? message);
    const left = error instanceof ApiUnavailableError ? leftoversSentence(run.place()) : undefined;
    if (left) run.complain(left);
    code = run.signal.aborted ? 130 : EXIT_ENVIRONMENT_ERROR;
  } finally {
    if (entry?.probes) {
      await deleteProbeNamespaces(entry.session, entry.probes.runId, entry.probes.namespaces);
    }
    await provider?.release({ keep: keepCluster, progress: () => {} }).catch(() => {});
    const { cases, steps, rows, notes } = entry ?? measured;
    const written = await finishUpgradeReports({
      reportsDir: run.reportsDir,
      junitPath: run.options.junit,
      report,
      cases,
      section: upgradeSection({ upgrade: run.upgrade, steps, rows, ...notes }),
      context: entry?.session.context,
      started,
      complain: run.complain,
    });
    if (!written) code = EXIT_ENVIRONMENT_ERROR;
  }
  return code;
}

/**
 * Runs the selected suites as phase `name` into the entry. `stop` says the run must end
 * there: a signal came, or the environment failed (exit 2).
 */
export async function phase(
  entry: Entry,
  name: string,
): Promise<{ cases: CaseResult[]; stop: boolean }> {
  const outcome = await runPhase(entry.run, entry.session, name);
  entry.cases.push(...outcome.cases);
  entry.environmentErrors.push(...outcome.environmentErrors);
  return {
    cases: outcome.cases,
    stop: entry.run.signal.aborted || entry.environmentErrors.length > 0,
  };
}

/**
 * Starts the probes as the entry's own: their namespaces are the ending's to delete from
 * before the first is created, so a start that fails half-way leaves none behind.
 */
export async function startOwnProbes(
  entry: Entry,
  workload: 'Deployment' | 'Pod',
): Promise<ProbeSet> {
  const { run, session } = entry;
  entry.probes = {
    runId: run.runId,
    namespaces: probePathsFor(session.target).map((path) => probeNamespace(run.runId, path)),
  };
  return startProbes({
    kube: session.kube,
    target: session.target,
    runId: run.runId,
    intervalMs: run.upgrade.probeIntervalMs,
    clientImage: run.options.clientImage,
    manifestsDir: run.options.manifestsDir,
    workload,
  });
}
