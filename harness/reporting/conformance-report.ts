/**
 * The conformance report (`conformance.yaml` and `conformance.json`), in the spirit of
 * Gateway API's: what was tested (the implementation as actually installed), how
 * (mode, external host), and per behaviour B1–B6 the result, the observations it
 * needed to converge, and flakiness. The CLI fills one {@link RunReport} as the run
 * goes, so a report can be written at any point, including after a failed setup.
 */
import type { UpgradeSection } from '../upgrade/report.ts';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import type { ClusterKind, ClusterTarget, ExternalMode, Progress } from '../providers/types.ts';
import type { MtlsMode } from '../run-context.ts';
import type { ApiName, SkippedApi } from '../variants.ts';
import { SUITES } from '../../suites/index.ts';
import { failureText, type CaseResult } from './junit.ts';
import type { FailureFields } from '../errors.ts';
import { redactArgv, redactSecrets, secretsFromKubeconfig } from './redact.ts';

/** The behaviours of docs/behaviours.md, in report order. */
export const BEHAVIOURS = [
  { id: 'B1', title: 'HTTP on port 80 leaves through the egress gateway' },
  { id: 'B2', title: 'HTTP through the gateway with mutual TLS between sidecar and gateway' },
  { id: 'B3', title: 'TLS on port 443 passes through the gateway by SNI' },
  { id: 'B4', title: 'NetworkPolicy blocks bypassing the sidecar; the gateway path still works' },
  { id: 'B5', title: "The DestinationRule must be in the client's lookup path" },
  { id: 'B6', title: 'Cleanup leaves the cluster as it was' },
  {
    id: 'B7',
    title:
      'REGISTRY_ONLY blocks hosts without ServiceEntry; the registered host leaves through the gateway',
  },
] as const;

export type BehaviourId = (typeof BEHAVIOURS)[number]['id'];

/** One setup step as the progress reporter saw it (`preflight`, `cluster`, `istio install`…). */
export interface StepRecord {
  name: string;
  state: 'running' | 'done' | 'failed';
  startedAt: Date;
  finishedAt?: Date;
  detail?: string;
}

/**
 * Everything the reports are made from, filled by the CLI as the run goes: `requested`
 * right after parsing, `target` after provisioning, `cases` after the suites. Any
 * field may still be missing when the report is written.
 */
export interface RunReport {
  runId: string;
  startedAt: Date;
  finishedAt?: Date;
  /** The command line as given (without node and the script); redacted when written. */
  argv: readonly string[];
  /** What the command line asked for. */
  requested: {
    clusterKind: ClusterKind;
    suites: readonly string[];
    mtlsModes: readonly MtlsMode[];
    /** `--api`; absent in reports of runs that predate the choice (istio-api only). */
    apis?: readonly ApiName[];
    external?: { mode: ExternalMode; hostName?: string } | undefined;
    istioVersion: string;
    keepOnFailure: boolean;
  };
  /** Setup steps in start order, recorded by {@link trackSteps}. */
  steps: StepRecord[];
  target?: ClusterTarget;
  /** Consecutive agreeing observations a convergence needed (the run's setting). */
  requiredObservations?: number;
  /** The APIs the cluster could run, and those skipped with the reason (set once the cluster is known). */
  apis?: { apis: readonly ApiName[]; skipped: readonly SkippedApi[] };
  /** The test cases; absent until the suites ran. */
  cases?: CaseResult[];
  /** The step that failed before the suites could run, and why. */
  setupFailure?: { step: string; message: string };
  interrupted?: boolean;
  /** Whether the cluster was kept after the run (`--keep-on-failure`, `--keep-cluster`). */
  clusterKept?: boolean;
  /** Path of the JUnit file, relative to the reports folder, for links. */
  junitFile?: string;
  /** An upgrade run's versions, style, steps and disruption (harness/upgrade). */
  upgrade?: UpgradeSection;
}

/** Starts the run's report; the CLI fills in the rest as the run goes. */
export function createRunReport({
  runId,
  argv,
  requested,
  startedAt = new Date(),
}: Pick<RunReport, 'runId' | 'argv' | 'requested'> & { startedAt?: Date }): RunReport {
  return { runId, startedAt, argv, requested, steps: [] };
}

/**
 * Wraps the run's {@link Progress} so every step is also recorded in the report: when
 * setup fails, {@link recordSetupFailure} names the step that was running.
 */
export function trackSteps(report: RunReport, progress: Progress): Progress {
  return (step, state, detail) => {
    const now = new Date();
    if (state === 'start') {
      report.steps.push({
        name: step,
        state: 'running',
        startedAt: now,
        ...(detail ? { detail } : {}),
      });
    } else {
      const record = report.steps.findLast(
        (entry) => entry.name === step && entry.state === 'running',
      );
      if (record) {
        record.state = state;
        record.finishedAt = now;
        if (detail) record.detail = detail;
      } else {
        report.steps.push({ name: step, state, startedAt: now, finishedAt: now, detail });
      }
    }
    progress(step, state, detail);
  };
}

/**
 * Records that setup failed: the step is `step` if given, else the innermost step still
 * running (e.g. `istio install` inside `cluster`), else `setup`.
 */
export function recordSetupFailure(report: RunReport, error: unknown, step?: string): void {
  const running = report.steps.filter((entry) => entry.state === 'running');
  const failedStep = step ?? running.at(-1)?.name ?? 'setup';
  for (const entry of running) {
    if (entry.name === failedStep) {
      entry.state = 'failed';
      entry.finishedAt = new Date();
    }
  }
  report.setupFailure = {
    step: failedStep,
    message: error instanceof Error ? error.message : String(error),
  };
}

export type BehaviourResult = 'passed' | 'failed' | 'skipped' | 'error' | 'not run';

/** One check's convergence, as recorded on the test. */
export interface ObservationRecord {
  check: string;
  observations: number;
  flips: number;
  elapsedMs: number;
}

/** One test case in the report. */
export interface CaseReport {
  name: string;
  suite: string;
  variant?: string;
  result: 'passed' | 'failed' | 'skipped' | 'error';
  durationMs: number;
  flaky: boolean;
  observations: ObservationRecord[];
  /** The failure's first line, or the skip reason. */
  message?: string;
  /** A conformance failure, field by field (the diagnostics are in {@link diagnostics}). */
  failure?: {
    /** The check that failed, e.g. `B3.1`. */
    behaviour: string;
    expected: string;
    reason: string;
    /** The last observation, described. */
    observed: string;
    hint: string;
    observations: number;
    elapsedMs: number;
    budgetMs?: number;
    required?: number;
    flips?: number;
  };
  /** Files collected on failure, relative to the reports folder. */
  diagnostics?: string[];
  kept?: string[];
  /** What the check recorded about its evidence, e.g. which counter source B4 used. */
  evidence?: unknown;
}

/** One behaviour's verdict. */
export interface BehaviourReport {
  id: BehaviourId;
  title: string;
  suites: string[];
  result: BehaviourResult;
  /** Why it was skipped, not run, or an environment error. */
  reason?: string;
  /** Observations the slowest check needed to converge (null when none converged). */
  observations: number | null;
  /** Passed only after its observations flipped (converged late after disagreeing). */
  flaky: boolean;
  /** The failing cases, one line each. */
  failures: string[];
  cases: CaseReport[];
}

/** The report document, identical in conformance.yaml and conformance.json. */
export interface ConformanceReport {
  apiVersion: 'egress-conformance.dev/v1alpha1';
  kind: 'EgressConformanceReport';
  metadata: { name: string; creationTimestamp: string };
  simulated: boolean;
  note?: string;
  result: 'passed' | 'failed' | 'error' | 'setup failed' | 'interrupted' | 'not run';
  implementation: {
    clusterKind: ClusterKind;
    simulated: boolean;
    istio: {
      version: string | null;
      requestedVersion: string;
      revision: string | null;
      gateway: string | null;
      /** The mesh config's outboundTrafficPolicy.mode, as detected (`--outbound-policy` on kind). */
      outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY' | null;
    };
    kubernetesVersion: string | null;
    kindVersion: string | null;
    cni: string | null;
    context?: string;
  };
  mode: {
    mtls: MtlsMode[];
    /** The configuration APIs certified (`--api` less those the cluster cannot run). */
    api: ApiName[];
    /** APIs `--api` selected that the cluster cannot run, with the reason; their cases are skipped. */
    skippedApis: SkippedApi[];
    external: { mode: ExternalMode | null; hosts: { suite: string; name: string }[] };
    requiredObservations: number | null;
  };
  run: {
    id: string;
    startTime: string;
    durationSeconds: number;
    commandLine: string;
    argv: string[];
    suites: string[];
    steps: { name: string; result: StepRecord['state']; durationSeconds: number | null }[];
  };
  setupFailure?: { step: string; message: string };
  summary: Record<'passed' | 'failed' | 'skipped' | 'error' | 'notRun' | 'flaky', number>;
  behaviours: BehaviourReport[];
  /** Failures that belong to no behaviour (unhandled errors of the run). */
  runErrors: string[];
  /** What was kept for debugging, and how to reach it. */
  kept?: { cluster: boolean; kubeconfig: string | null; namespaces: string[] };
  /** Upgrade runs only: both versions, the style, the steps and the disruption per path. */
  upgrade?: UpgradeSection;
}

const SIMULATED_NOTE =
  'SIMULATED cluster: a model of Kubernetes and Istio built to test this suite. These results certify nothing about a real mesh.';

/** Builds the report document from what the run has recorded so far. */
export function buildConformanceReport(report: RunReport, now = new Date()): ConformanceReport {
  const target = report.target;
  const simulated = target?.simulated ?? report.requested.clusterKind === 'simulated';
  const finished = report.finishedAt ?? now;
  const argv = redactArgv(report.argv);
  const cases = report.cases ?? [];
  const behaviours = BEHAVIOURS.map(({ id, title }) => behaviourReport(report, id, title, cases));
  const runErrors = cases
    .filter((entry) => entry.state === 'failed' && behavioursOf(entry).length === 0)
    .map((entry) => `${entry.suite} › ${entry.name}: ${firstLine(failureText(entry))}`);
  const keptNamespaces = [...new Set(cases.flatMap((entry) => entry.meta.kept ?? []))];
  const hosts = Object.entries(target?.externalHosts ?? {}).map(([suite, host]) => ({
    suite,
    name: host.name,
  }));
  const externalMode =
    Object.values(target?.externalHosts ?? {})[0]?.mode ?? report.requested.external?.mode ?? null;
  if (hosts.length === 0 && report.requested.external?.hostName)
    hosts.push({ suite: '*', name: report.requested.external.hostName });
  const count = (result: BehaviourResult): number =>
    behaviours.filter((entry) => entry.result === result).length;
  const document: ConformanceReport = {
    apiVersion: 'egress-conformance.dev/v1alpha1',
    kind: 'EgressConformanceReport',
    metadata: { name: `run-${report.runId}`, creationTimestamp: now.toISOString() },
    simulated,
    ...(simulated ? { note: SIMULATED_NOTE } : {}),
    result: overallResult(report, behaviours, runErrors),
    implementation: {
      clusterKind: target?.kind ?? report.requested.clusterKind,
      simulated,
      istio: {
        version: target?.istio.version ?? null,
        requestedVersion: report.requested.istioVersion,
        revision: target?.istio.revision ?? null,
        gateway: target
          ? `${target.istio.gateway.namespace}/${target.istio.gateway.serviceName}`
          : null,
        outboundTrafficPolicy: target?.istio.outboundTrafficPolicy ?? null,
      },
      kubernetesVersion: target?.kubernetesVersion ?? null,
      kindVersion: target?.kindVersion ?? null,
      cni: target?.cni ?? null,
      ...(target?.context ? { context: target.context } : {}),
    },
    mode: {
      mtls: [...report.requested.mtlsModes],
      api: [...(report.apis?.apis ?? report.requested.apis ?? ['istio-api'])],
      skippedApis: (report.apis?.skipped ?? []).map((entry) => ({ ...entry })),
      external: { mode: externalMode, hosts },
      requiredObservations: report.requiredObservations ?? null,
    },
    run: {
      id: report.runId,
      startTime: report.startedAt.toISOString(),
      durationSeconds: seconds(finished.getTime() - report.startedAt.getTime()),
      commandLine: ['npm run conformance --', ...argv.map(shellQuote)].join(' '),
      argv,
      suites: [...report.requested.suites],
      steps: report.steps.map((step) => ({
        name: step.name,
        result: step.state,
        durationSeconds: step.finishedAt
          ? seconds(step.finishedAt.getTime() - step.startedAt.getTime())
          : null,
      })),
    },
    ...(report.setupFailure ? { setupFailure: { ...report.setupFailure } } : {}),
    summary: {
      passed: count('passed'),
      failed: count('failed'),
      skipped: count('skipped'),
      error: count('error'),
      notRun: count('not run'),
      flaky: behaviours.filter((entry) => entry.flaky).length,
    },
    behaviours,
    runErrors,
    ...(report.upgrade ? { upgrade: report.upgrade } : {}),
  };
  if (keptNamespaces.length > 0 || report.clusterKept) {
    document.kept = {
      cluster: Boolean(report.clusterKept),
      kubeconfig: target?.kubeconfigPath ?? null,
      namespaces: keptNamespaces,
    };
  }
  return document;
}

/**
 * Writes `conformance.yaml` and `conformance.json` into `reportsDir`, redacted (the
 * kubeconfig's own credentials included); returns the two paths.
 */
export async function writeConformanceReports(
  reportsDir: string,
  report: RunReport,
): Promise<string[]> {
  const document = buildConformanceReport(report);
  const known = report.target ? await secretsFromKubeconfig(report.target.kubeconfigPath) : [];
  await mkdir(reportsDir, { recursive: true });
  const yamlFile = path.join(reportsDir, 'conformance.yaml');
  const jsonFile = path.join(reportsDir, 'conformance.json');
  const banner = document.simulated ? `# ${SIMULATED_NOTE}\n` : '';
  await writeFile(yamlFile, redactSecrets(banner + stringify(document, { lineWidth: 0 }), known));
  await writeFile(jsonFile, redactSecrets(`${JSON.stringify(document, null, 2)}\n`, known));
  return [yamlFile, jsonFile];
}

/** The behaviour ids a case certifies (none for errors of the run itself). */
export function behavioursOf(entry: CaseResult): BehaviourId[] {
  // The suite runner records the case's behaviour from the suite value; titles are never read.
  const own = BEHAVIOURS.find((behaviour) => behaviour.id === entry.meta.behaviour)?.id;
  if (own) return [own];
  // A failure of the suite file itself (setup, import) stands for all its behaviours.
  const suite = SUITES.find((info) => info.name === entry.suite);
  return (suite?.behaviours ?? []).filter((id): id is BehaviourId =>
    BEHAVIOURS.some((behaviour) => behaviour.id === id),
  );
}

function behaviourReport(
  report: RunReport,
  id: BehaviourId,
  title: string,
  allCases: readonly CaseResult[],
): BehaviourReport {
  const suites = SUITES.filter((info) => info.behaviours.includes(id)).map((info) => info.name);
  const cases = allCases.filter((entry) => behavioursOf(entry).includes(id)).map(caseReport);
  const observations = cases.flatMap((entry) => entry.observations.map((o) => o.observations));
  return {
    id,
    title,
    ...verdict(report, id, suites, cases),
    suites,
    observations: observations.length > 0 ? Math.max(...observations) : null,
    flaky: cases.some((entry) => entry.flaky),
    failures: cases
      .filter((entry) => entry.result === 'failed' || entry.result === 'error')
      .map((entry) => `${caseTitle(entry)}: ${entry.message ?? 'failed'}`),
    cases,
  };
}

function verdict(
  report: RunReport,
  id: BehaviourId,
  suites: readonly string[],
  cases: readonly CaseReport[],
): { result: BehaviourResult; reason?: string } {
  if (cases.length === 0) return notRunReason(report, id, suites);
  if (cases.some((entry) => entry.result === 'failed')) return { result: 'failed' };
  if (cases.some((entry) => entry.result === 'error')) {
    return {
      result: 'error',
      reason:
        'the environment failed (e.g. the cluster has no egress at all), not the mesh: this result says nothing about the behaviour',
    };
  }
  if (cases.some((entry) => entry.result === 'passed')) return { result: 'passed' };
  const reasons = [...new Set(cases.map((entry) => entry.message ?? 'skipped'))];
  return { result: 'skipped', reason: reasons.join('; ') };
}

function notRunReason(
  report: RunReport,
  id: BehaviourId,
  suites: readonly string[],
): { result: BehaviourResult; reason: string } {
  if (report.setupFailure) {
    return {
      result: 'not run',
      reason: `setup failed at step "${report.setupFailure.step}" before any suite ran`,
    };
  }
  if (report.interrupted) return { result: 'not run', reason: 'the run was interrupted' };
  if (!report.cases) return { result: 'not run', reason: 'the suites have not run' };
  if (!suites.some((suite) => report.requested.suites.includes(suite))) {
    return {
      result: 'skipped',
      reason: `not selected: its suite (${suites.join(', ')}) was not in --suite`,
    };
  }
  if (id === 'B2' && !report.requested.mtlsModes.includes('enabled')) {
    return { result: 'skipped', reason: 'not selected: B2 is the --mtls enabled variant' };
  }
  return { result: 'not run', reason: 'no test of this behaviour reported a result' };
}

function caseReport(entry: CaseResult): CaseReport {
  const environment = entry.state === 'failed' && entry.errorName === 'EnvironmentError';
  const message =
    entry.state === 'failed'
      ? firstLine(failureText(entry))
      : entry.state === 'skipped'
        ? (entry.skipReason ?? 'skipped')
        : undefined;
  return {
    name: entry.name,
    suite: entry.suite,
    ...(entry.meta.variant ? { variant: entry.meta.variant } : {}),
    result: environment ? 'error' : entry.state,
    durationMs: entry.durationMs,
    flaky: Boolean(entry.meta.flaky),
    observations: (entry.meta.convergence ?? []).map((c) => ({
      check: c.behaviour,
      observations: c.observations,
      flips: c.flips,
      elapsedMs: c.elapsedMs,
    })),
    ...(message !== undefined ? { message } : {}),
    ...(entry.state === 'failed' && entry.failure ? { failure: failureReport(entry.failure) } : {}),
    ...(entry.meta.diagnostics?.length ? { diagnostics: [...entry.meta.diagnostics] } : {}),
    ...(entry.meta.kept?.length ? { kept: [...entry.meta.kept] } : {}),
    ...(entry.meta.notes !== undefined ? { evidence: entry.meta.notes } : {}),
  };
}

function failureReport(fields: FailureFields): NonNullable<CaseReport['failure']> {
  const { diagnostics: _folder, ...failure } = fields;
  return failure;
}

function overallResult(
  report: RunReport,
  behaviours: readonly BehaviourReport[],
  runErrors: readonly string[],
): ConformanceReport['result'] {
  if (report.setupFailure) return 'setup failed';
  if (report.interrupted) return 'interrupted';
  if (behaviours.some((entry) => entry.result === 'failed') || runErrors.length > 0)
    return 'failed';
  if (behaviours.some((entry) => entry.result === 'error')) return 'error';
  if (behaviours.some((entry) => entry.result === 'passed')) return 'passed';
  return 'not run';
}

/** A case's name with its variant, as the reports show it. */
export function caseTitle(entry: Pick<CaseReport, 'name' | 'variant'>): string {
  return entry.variant ? `${entry.name} [${entry.variant}]` : entry.name;
}

function firstLine(message: string | undefined): string {
  return (message ?? 'failed').split('\n')[0] ?? 'failed';
}

function seconds(ms: number): number {
  return Math.round(ms / 100) / 10;
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
