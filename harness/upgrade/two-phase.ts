/**
 * The two-phase mode for clusters upgraded by other tooling (Helm, an operator, a managed
 * mesh). `--disruption start` runs phase `before`, starts the probes and leaves them
 * running, and prints an id; `--disruption check --id ID` reads the probes' records from the
 * cluster (their own logs), stops the probes, runs phase `after`, and reports. Nothing of
 * the first half lives on the machine that ran it: the second may run anywhere.
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import { EXIT_ENVIRONMENT_ERROR, EnvironmentError } from '../errors.ts';
import { errorText } from '../k8s/client.ts';
import type { ClusterProvider } from '../providers/types.ts';
import type { CaseResult } from '../reporting/junit.ts';
import {
  pathsOf,
  probeHostKey,
  probeNamespace,
  readProbeRecords,
  startProbes,
  waitForProbes,
  type ProbePath,
  type ProbeRecord,
  type ProbeSet,
} from './probes.ts';
import { describeDisruption, disruptionTable, type UpgradeStep } from './disruption.ts';
import {
  deleteProbeNamespaces,
  openSession,
  runPhase,
  type Session,
  type UpgradeRunOptions,
} from './session.ts';
import {
  disruptionCases,
  upgradeSection,
  finishUpgradeReports,
  type UpgradeSection,
} from './report.ts';
import { exitCode, upgradeReport } from './run.ts';
import { annotateResponseFlags } from './evidence.ts';

/** The ConfigMap (in the HTTP probe's namespace) that carries the first half's facts to the second. */
export const PROBE_STATE = { name: 'egress-probe-run', path: 'http' as ProbePath };

/** What `start` leaves for `check`. */
interface ProbeState {
  from: string;
  intervalMs: number;
  probesStartedAt: string;
  paths: ProbePath[];
  before: { passed: number; failed: number };
}

/** A run whose halves are minutes or days apart needs a cluster that outlives each run. */
function refuseEphemeral(run: UpgradeRunOptions): string | undefined {
  const { options } = run;
  if (options.cluster === 'simulated') {
    return '--disruption needs a cluster that outlives the run: use --cluster existing (e.g. against npm run sim), or --upgrade-from on the simulated cluster.';
  }
  if (options.cluster === 'kind' && !options.keepCluster && !options.reuseCluster) {
    return '--disruption on kind needs --keep-cluster (start) or --reuse-cluster (check), or the cluster is gone before the upgrade.';
  }
  return undefined;
}

/** `--disruption start`. */
export async function runDisruptionStart(run: UpgradeRunOptions): Promise<number> {
  const refusal = refuseEphemeral(run);
  if (refusal) {
    run.complain(refusal);
    return EXIT_ENVIRONMENT_ERROR;
  }
  const { options, upgrade, runId, say, complain } = run;
  const started = new Date();
  const report = upgradeReport(run);
  const cases: CaseResult[] = [];
  const environmentErrors: string[] = [];
  let provider: ClusterProvider | undefined;
  let session: Session | undefined;
  let probes: ProbeSet | undefined;
  let code: number;
  let handedOver = false;
  try {
    session = await openSession(run, options.istioVersion, (created) => (provider = created));
    const { target, kube, timeouts } = session;
    report.target = target;
    upgrade.from = target.istio.version;
    upgrade.to = target.istio.version;
    const before = await runPhase(run, session, 'before');
    cases.push(...before.cases);
    environmentErrors.push(...before.environmentErrors);
    if (run.signal.aborted || environmentErrors.length > 0) {
      return exitCode(run, cases, environmentErrors);
    }
    probes = await startProbes({
      kube,
      target,
      runId,
      intervalMs: upgrade.probeIntervalMs,
      clientImage: options.clientImage,
      manifestsDir: options.manifestsDir,
      workload: 'Pod',
    });
    const probeSet = probes;
    await waitForProbes(() => readProbeRecords(kube, probeSet), pathsOf(probeSet), {
      timeoutMs: timeouts.podReady + timeouts.configPropagation,
      intervalMs: upgrade.probeIntervalMs,
    });
    const state: ProbeState = {
      from: target.istio.version,
      intervalMs: upgrade.probeIntervalMs,
      probesStartedAt: new Date().toISOString(),
      paths: pathsOf(probeSet),
      before: {
        passed: before.cases.filter((entry) => entry.state === 'passed').length,
        failed: before.cases.filter((entry) => entry.state === 'failed').length,
      },
    };
    await kube.core.createNamespacedConfigMap({
      namespace: probeNamespace(runId, PROBE_STATE.path),
      body: {
        metadata: { name: PROBE_STATE.name },
        data: { state: JSON.stringify(state) },
      },
    });
    handedOver = true;
    say(
      `disruption probes running (id ${runId}); upgrade Istio with your tooling, then run: npm run conformance -- ${checkCommand(run)}`,
    );
    code = exitCode(run, cases, environmentErrors);
  } catch (error) {
    complain(
      error instanceof Error ? (error.message.split('\n')[0] ?? error.message) : String(error),
    );
    code = run.signal.aborted ? 130 : EXIT_ENVIRONMENT_ERROR;
  } finally {
    // The probes stay for `check` only when they were handed over; else they go now.
    if (session && probes && !handedOver) {
      await deleteProbeNamespaces(session, runId, Object.values(probes.namespaces));
    }
    await provider?.release({ keep: true, progress: () => {} }).catch(() => {});
    const written = await finishUpgradeReports({
      reportsDir: run.reportsDir,
      junitPath: options.junit,
      report,
      cases,
      section: upgradeSection({ upgrade, steps: [], rows: [], id: runId }),
      context: session?.context,
      started,
      complain,
    });
    if (!written) code = EXIT_ENVIRONMENT_ERROR;
  }
  return code;
}

/** The flags of the matching `check`, from this run's command line. */
function checkCommand(run: UpgradeRunOptions): string {
  const args: string[] = [];
  for (let index = 0; index < run.argv.length; index += 1) {
    const arg = run.argv[index] ?? '';
    if (arg === '--disruption') {
      index += 1;
      continue;
    }
    if (arg.startsWith('--disruption=')) continue;
    args.push(arg);
  }
  return [...args, '--disruption', 'check', '--id', run.runId].join(' ');
}

/** `--disruption check --id ID`. */
export async function runDisruptionCheck(run: UpgradeRunOptions): Promise<number> {
  const refusal = refuseEphemeral(run);
  if (refusal) {
    run.complain(refusal);
    return EXIT_ENVIRONMENT_ERROR;
  }
  const { options, upgrade, say, complain } = run;
  const id = upgrade.id ?? '';
  const started = new Date();
  const report = upgradeReport(run);
  const cases: CaseResult[] = [];
  const environmentErrors: string[] = [];
  let provider: ClusterProvider | undefined;
  let session: Session | undefined;
  let probes: ProbeSet | undefined;
  let section: UpgradeSection | undefined;
  let code: number;
  try {
    session = await openSession(run, options.istioVersion, (created) => (provider = created));
    const { target, kube } = session;
    report.target = target;
    const state = await readState(session, id);
    upgrade.from = state.from;
    upgrade.to = target.istio.version;
    upgrade.probeIntervalMs = state.intervalMs;
    probes = {
      runId: id,
      intervalMs: state.intervalMs,
      namespaces: Object.fromEntries(state.paths.map((path) => [path, probeNamespace(id, path)])),
      hosts: Object.fromEntries(
        state.paths.map((path) => [path, target.externalHosts[probeHostKey(path)]?.name ?? '']),
      ),
    };
    // Every record first: the probes stop before phase after, which may use the same host.
    const records: Map<string, ProbeRecord> = await readProbeRecords(kube, probes);
    await annotateResponseFlags(kube, probes, records);
    const steps: UpgradeStep[] = [
      {
        name: `the upgrade by other tooling (${state.from} -> ${target.istio.version})`,
        startedAt: new Date(state.probesStartedAt),
        endedAt: new Date(),
      },
    ];
    const rows = disruptionTable(records.values(), steps, state.paths);
    say(`disruption: ${describeDisruption(rows)}`);
    section = upgradeSection({ upgrade, steps, rows, id });
    cases.push(...disruptionCases(section, Date.now() - started.getTime()));
    await deleteProbeNamespaces(session, id, Object.values(probes.namespaces));
    probes = undefined;
    const after = await runPhase(run, session, 'after');
    cases.push(...after.cases);
    environmentErrors.push(...after.environmentErrors);
    code = exitCode(run, cases, environmentErrors);
  } catch (error) {
    complain(
      error instanceof Error ? (error.message.split('\n')[0] ?? error.message) : String(error),
    );
    code = run.signal.aborted ? 130 : EXIT_ENVIRONMENT_ERROR;
  } finally {
    if (session && probes) {
      await deleteProbeNamespaces(session, id, Object.values(probes.namespaces));
    }
    await provider?.release({ keep: options.keepCluster, progress: () => {} }).catch(() => {});
    const written = await finishUpgradeReports({
      reportsDir: run.reportsDir,
      junitPath: options.junit,
      report,
      cases,
      section: section ?? upgradeSection({ upgrade, steps: [], rows: [], id }),
      context: session?.context,
      started,
      complain,
    });
    if (!written) code = EXIT_ENVIRONMENT_ERROR;
  }
  return code;
}

async function readState(session: Session, id: string): Promise<ProbeState> {
  const namespace = probeNamespace(id, PROBE_STATE.path);
  let map: V1ConfigMap;
  try {
    map = await session.kube.core.readNamespacedConfigMap({ namespace, name: PROBE_STATE.name });
  } catch (error) {
    throw new EnvironmentError(
      `No disruption probes of id ${id} in this cluster (ConfigMap ${namespace}/${PROBE_STATE.name}: ${errorText(error).split('\n')[0] ?? ''}); run --disruption start against the same cluster first and pass the id it printed.`,
      { cause: error },
    );
  }
  const state = JSON.parse(map.data?.state ?? '{}') as Partial<ProbeState>;
  if (!state.from || !state.probesStartedAt || !state.paths || !state.intervalMs) {
    throw new EnvironmentError(
      `ConfigMap ${namespace}/${PROBE_STATE.name} does not hold the probes' state; run --disruption start again.`,
    );
  }
  return state as ProbeState;
}
