/**
 * `--upgrade-from A`: install A, run the suites (phase `before`), start the disruption
 * probes, upgrade to B step by step (in place or canary), run the suites again (phase
 * `after`), and report both phases with the disruption table. `--disruption start|check`
 * (two-phase.ts) share everything but the upgrade itself.
 */
import { writeOverlay } from '../istio/overlay.ts';
import { detectIstio } from '../istio/detect.ts';
import {
  EXIT_CONFORMANCE_FAILURE,
  EXIT_ENVIRONMENT_ERROR,
  EXIT_PASSED,
  EnvironmentError,
} from '../errors.ts';
import type { ClusterProvider } from '../providers/types.ts';
import type { CaseResult } from '../reporting/junit.ts';
import { createRunReport, type RunReport } from '../reporting/conformance-report.ts';
import { ISTIO_UPGRADE } from '../facts/upgrade.ts';
import { UPGRADE_DEFAULTS } from './options.ts';
import {
  pathsOf,
  readProbeRecords,
  startProbes,
  waitForNewRecords,
  waitForProbes,
  type ProbeRecord,
  type ProbeSet,
} from './probes.ts';
import { describeDisruption, disruptionTable, type UpgradeStep } from './disruption.ts';
import {
  istioctl,
  moveNamespaceToRevision,
  restartDeployment,
  step,
  waitForRollout,
  type StepContext,
} from './steps.ts';
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
import { runDisruptionCheck, runDisruptionStart } from './two-phase.ts';
import { annotateResponseFlags, mixedVersionCases } from './evidence.ts';
import { REQUIRED_CONSECUTIVE_OBSERVATIONS } from '../timeouts.ts';

export type { UpgradeRunOptions } from './session.ts';

const GATEWAY = 'istio-egressgateway';

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

/** Runs what the upgrade flags ask for and returns the exit code. */
export async function runUpgrade(run: UpgradeRunOptions): Promise<number> {
  if (run.upgrade.mode === 'start') return runDisruptionStart(run);
  if (run.upgrade.mode === 'check') return runDisruptionCheck(run);
  return runFullUpgrade(run);
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

async function runFullUpgrade(run: UpgradeRunOptions): Promise<number> {
  const { options, upgrade, runId, say, complain } = run;
  const started = new Date();
  const report = upgradeReport(run);
  const steps: UpgradeStep[] = [];
  const cases: CaseResult[] = [];
  const environmentErrors: string[] = [];
  const precheckWarnings: string[] = [];
  const analyze: { namespace: string; output: string }[] = [];
  let provider: ClusterProvider | undefined;
  let session: Session | undefined;
  let probes: ProbeSet | undefined;
  let section: UpgradeSection | undefined;
  let code: number;
  try {
    session = await openSession(run, upgrade.from, (created) => (provider = created));
    const { target, kube, timeouts } = session;
    report.target = target;
    say(`installed Istio ${target.istio.version}; upgrading to ${upgrade.to} (${upgrade.style})`);
    const tool = await session.provider.istioctlFor?.(upgrade.to);
    if (!tool) {
      throw new EnvironmentError(
        `--upgrade-from needs istioctl ${upgrade.to}, which the ${options.cluster} provider cannot supply; use --cluster kind or simulated, or --disruption start/check on an existing cluster.`,
      );
    }
    const stepContext: StepContext = {
      kube,
      kubeconfigPath: target.kubeconfigPath,
      istioctl: tool,
      timeoutMs: timeouts.istioInstall,
      steps,
      log: say,
      signal: run.signal,
    };
    // istioctl x precheck before anything changes: an error stops the run (exit 2).
    const precheck = await istioctl(stepContext, ['x', 'precheck'], 'istioctl x precheck');
    for (const line of precheck.split('\n').filter((text) => /warn/i.test(text))) {
      precheckWarnings.push(line.trim());
      say(`precheck warning: ${line.trim()}`);
    }

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
    });
    const known = new Map<string, ProbeRecord>();
    const probeSet = probes;
    // The flags of a failed request are in its pod's sidecar log, gone once a restart
    // replaces the pod: they are read with the records, while the pod still runs.
    const collect = async (): Promise<Map<string, ProbeRecord>> => {
      const records = await readProbeRecords(kube, probeSet, known);
      await annotateResponseFlags(kube, probeSet, records);
      return records;
    };
    const pace = { intervalMs: upgrade.probeIntervalMs, timeoutMs: timeouts.configPropagation };
    await waitForProbes(collect, pathsOf(probeSet), {
      timeoutMs: timeouts.podReady + timeouts.configPropagation,
      intervalMs: upgrade.probeIntervalMs,
    });
    // Records of pods a restart replaces are read while those pods still run.
    const collector = setInterval(() => void collect().catch(() => {}), 500);
    try {
      // While old and new proxies are mixed: B1/B3's core checks on the probe requests.
      const mixed = async (label: string): Promise<void> => {
        const since = new Date();
        await step(stepContext, label, () =>
          waitForNewRecords(collect, pathsOf(probeSet), {
            ...pace,
            perPath: REQUIRED_CONSECUTIVE_OBSERVATIONS + 2,
          }),
        );
        cases.push(
          ...(await mixedVersionCases({
            kube,
            target,
            probes: probeSet,
            records: (await collect()).values(),
            since,
            label,
            required: REQUIRED_CONSECUTIVE_OBSERVATIONS,
          })),
        );
      };
      await upgradeSteps(run, session, stepContext, probeSet, collect, mixed);
      await waitForNewRecords(collect, pathsOf(probeSet), pace);
    } finally {
      clearInterval(collector);
    }
    const records = await collect();
    const rows = disruptionTable(records.values(), steps, pathsOf(probeSet));
    say(`disruption: ${describeDisruption(rows)}`);
    section = upgradeSection({ upgrade, steps, rows, precheckWarnings, analyze });
    cases.push(...disruptionCases(section, Date.now() - started.getTime()));

    // After the upgrade the suites test what now runs: revision b after a canary.
    target.istio = await detectIstio(
      kube,
      upgrade.style === 'canary' ? { revision: ISTIO_UPGRADE.canaryRevision } : {},
    );
    const after = await runPhase(run, session, 'after');
    cases.push(...after.cases);
    environmentErrors.push(...after.environmentErrors);
    // istioctl analyze after the upgrade, on the namespaces this run created and kept until now.
    for (const namespace of Object.values(probes.namespaces)) {
      const output = (
        await istioctl(stepContext, ['analyze', '-n', namespace], 'istioctl analyze')
      ).trim();
      analyze.push({ namespace, output });
      say(`istioctl analyze ${namespace}: ${output}`);
    }
    code = exitCode(run, cases, environmentErrors);
  } catch (error) {
    complain(
      error instanceof Error ? (error.message.split('\n')[0] ?? error.message) : String(error),
    );
    code = run.signal.aborted ? 130 : EXIT_ENVIRONMENT_ERROR;
  } finally {
    if (session && probes) {
      await deleteProbeNamespaces(session, runId, Object.values(probes.namespaces));
    }
    await provider?.release({ keep: options.keepCluster, progress: () => {} }).catch(() => {});
    const written = await finishUpgradeReports({
      reportsDir: run.reportsDir,
      junitPath: options.junit,
      report,
      cases,
      section: section ?? upgradeSection({ upgrade, steps, rows: [], precheckWarnings }),
      context: session?.context,
      started,
      complain,
    });
    if (!written) code = EXIT_ENVIRONMENT_ERROR;
  }
  return code;
}

/** The upgrade itself, as timed steps, in the chosen style. */
async function upgradeSteps(
  run: UpgradeRunOptions,
  session: Session,
  stepContext: StepContext,
  probes: ProbeSet,
  collect: () => Promise<Map<string, ProbeRecord>>,
  mixed: (label: string) => Promise<void>,
): Promise<void> {
  const { upgrade } = run;
  const { kube, target } = session;
  const restartProbes = async (): Promise<void> => {
    await collect();
    for (const namespace of Object.values(probes.namespaces)) {
      await restartDeployment(kube, namespace, 'egress-probe');
    }
    for (const namespace of Object.values(probes.namespaces)) {
      await waitForRollout(stepContext, namespace, 'egress-probe');
    }
  };
  const overlay = async (gateway: boolean): Promise<string> =>
    writeOverlay(run.runDir, {
      outboundTrafficPolicy: 'ALLOW_ANY',
      accessLogEncoding: target.istio.accessLog.encoding,
      egressGateway: gateway,
      gatewayReplicas: UPGRADE_DEFAULTS.gatewayReplicas,
    });
  const gatewayNamespace = target.istio.gateway.namespace;
  if (upgrade.style === 'in-place') {
    await step(stepContext, `istioctl ${upgrade.to} install`, async () => {
      await istioctl(stepContext, ['install', '-y', '-f', await overlay(true)], 'istioctl install');
      await waitForRollout(stepContext, gatewayNamespace, GATEWAY);
    });
    await step(stepContext, 'restart the gateway', async () => {
      await restartDeployment(kube, gatewayNamespace, GATEWAY);
      await waitForRollout(stepContext, gatewayNamespace, GATEWAY);
    });
    await mixed('mixed versions: old sidecars, new gateway');
    await step(stepContext, 'restart the workloads', restartProbes);
    return;
  }
  const revision = ISTIO_UPGRADE.canaryRevision;
  await step(stepContext, `istioctl ${upgrade.to} install --revision ${revision}`, async () => {
    await istioctl(
      stepContext,
      ['install', '-y', '-f', await overlay(false), '--revision', revision],
      'istioctl install --revision',
    );
  });
  await step(stepContext, `move the workloads to revision ${revision}`, async () => {
    for (const namespace of Object.values(probes.namespaces)) {
      await moveNamespaceToRevision(kube, namespace, revision);
    }
    await restartProbes();
  });
  await mixed('mixed versions: new sidecars, old gateway');
  await step(stepContext, `move the gateway to revision ${revision}`, async () => {
    await istioctl(
      stepContext,
      ['install', '-y', '-f', await overlay(true), '--revision', revision],
      'istioctl install --revision (gateway)',
    );
    await waitForRollout(stepContext, gatewayNamespace, GATEWAY);
  });
  await step(stepContext, 'istioctl uninstall --revision default', async () => {
    await istioctl(stepContext, ['uninstall', '--revision', 'default', '-y'], 'istioctl uninstall');
  });
}
