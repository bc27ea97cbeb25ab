/**
 * `--upgrade-from A`: install A, run the suites (phase `before`), start the disruption
 * probes, upgrade to B step by step (in place or canary), run the suites again (phase
 * `after`), and report both phases with the disruption table.
 */
import path from 'node:path';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { CliOptions } from '../cli.ts';
import {
  EXIT_CONFORMANCE_FAILURE,
  EXIT_ENVIRONMENT_ERROR,
  EXIT_PASSED,
  EnvironmentError,
} from '../errors.ts';
import { connect } from '../k8s/client.ts';
import { deleteNamespaceAndWait } from '../k8s/namespaces.ts';
import { detectIstio } from '../istio/detect.ts';
import { writeOverlay } from '../istio/overlay.ts';
import type { ClusterProvider } from '../providers/types.ts';
import type { RunContext } from '../run-context.ts';
import { runSuites } from '../runner.ts';
import { REQUIRED_CONSECUTIVE_OBSERVATIONS, resolveTimeouts } from '../timeouts.ts';
import { API_NAMES } from '../variants.ts';
import { findSuite } from '../../suites/index.ts';
import { renderJUnit, writeJUnit, type CaseResult } from '../reporting/junit.ts';
import { createRunReport, writeConformanceReports } from '../reporting/conformance-report.ts';
import { writeSummary } from '../reporting/summary.ts';
import { pollUntil } from '../wait.ts';
import { ISTIO_UPGRADE } from '../facts/upgrade.ts';
import { UPGRADE_DEFAULTS, type UpgradeOptions } from './options.ts';
import {
  PROBE_PATHS,
  probeHostKey,
  readProbeRecords,
  startProbes,
  type ProbeRecord,
  type ProbeSet,
} from './probes.ts';
import {
  describeDisruption,
  disruptionMarkdown,
  disruptionTable,
  failureClass,
  type PathDisruption,
  type UpgradeStep,
} from './disruption.ts';
import {
  istioctl,
  moveNamespaceToRevision,
  restartDeployment,
  step,
  waitForRollout,
  type StepContext,
} from './steps.ts';

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const GATEWAY = 'istio-egressgateway';

/** What the CLI hands over. */
export interface UpgradeRunOptions {
  options: CliOptions;
  upgrade: UpgradeOptions;
  runId: string;
  runDir: string;
  reportsDir: string;
  argv: readonly string[];
  say: (line: string) => void;
  complain: (line: string) => void;
  signal: AbortSignal;
  createProvider: (istioVersion: string) => Promise<ClusterProvider>;
}

function phased(phase: string, cases: readonly CaseResult[]): CaseResult[] {
  return cases.map((entry) => ({ ...entry, name: `[${phase}] ${entry.name}` }));
}

/** Runs the whole upgrade and returns the exit code. */
export async function runUpgrade(run: UpgradeRunOptions): Promise<number> {
  const { options, upgrade, runId, runDir, reportsDir, say, complain } = run;
  const started = new Date();
  const report = createRunReport({
    runId,
    argv: run.argv,
    requested: {
      clusterKind: options.cluster,
      suites: options.suites,
      mtlsModes: options.mtlsModes,
      external: options.external,
      istioVersion: upgrade.to,
      keepOnFailure: options.keepOnFailure,
    },
  });
  const steps: UpgradeStep[] = [];
  const cases: CaseResult[] = [];
  let provider: ClusterProvider | undefined;
  let probes: ProbeSet | undefined;
  let rows: PathDisruption[] = [];
  let context: RunContext | undefined;
  let code: number;
  const progress = (): void => {};
  try {
    provider = await run.createProvider(upgrade.from);
    await provider.preflight();
    const target = await provider.provision({
      suites: [...options.suites, ...PROBE_PATHS.map(probeHostKey)],
      progress,
    });
    report.target = target;
    say(`installed Istio ${target.istio.version}; upgrading to ${upgrade.to} (${upgrade.style})`);
    const timeouts = resolveTimeouts(provider.timeoutDefaults ?? {}, options.timeoutOverrides);
    context = {
      runId,
      target,
      mtlsModes: options.mtlsModes,
      apis: [...API_NAMES],
      timeouts,
      requiredObservations: REQUIRED_CONSECUTIVE_OBSERVATIONS,
      clientImage: options.clientImage,
      keepOnFailure: options.keepOnFailure,
      reportsDir,
      manifestsDir: options.manifestsDir,
    };
    const kube = connect({ kubeconfigPath: target.kubeconfigPath });
    const tool = await provider.istioctlFor?.(upgrade.to);
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
    const warnings = precheck.split('\n').filter((line) => /warn/i.test(line));
    for (const line of warnings) say(`precheck warning: ${line}`);

    const suites = options.suites.map((name) => findSuite(name)).filter((s) => s !== undefined);
    const phase = async (name: string): Promise<void> => {
      const outcome = await runSuites({
        projectRoot: PROJECT_ROOT,
        run: context!,
        suites,
        junitPath: path.join(runDir, `junit-${name}.xml`),
        parallel: options.parallel,
        signal: run.signal,
        argv: run.argv,
        log: say,
        verbose: options.verbose,
      });
      cases.push(...phased(name, outcome.cases));
      say(
        `phase ${name}: ${outcome.passed} passed, ${outcome.failed} failed, ${outcome.skipped} skipped`,
      );
    };
    await phase('before');
    if (run.signal.aborted) return 130;

    probes = await startProbes({
      kube,
      target,
      runId,
      intervalMs: upgrade.probeIntervalMs,
      clientImage: options.clientImage,
      manifestsDir: options.manifestsDir,
    });
    const known = new Map<string, ProbeRecord>();
    const collect = async (): Promise<Map<string, ProbeRecord>> =>
      readProbeRecords(kube, probes!, known);
    // The probes must be answering before the upgrade starts, or the table measures nothing.
    await pollUntil({
      what: 'every disruption probe to record a successful request',
      timeoutMs: timeouts.podReady + timeouts.configPropagation,
      intervalMs: Math.max(100, upgrade.probeIntervalMs),
      observe: collect,
      done: (records) =>
        PROBE_PATHS.every((p) =>
          [...records.values()].some((r) => r.path === p && failureClass(r) === undefined),
        ),
      describe: (records) => `${records.size} records`,
      hint: 'read the probe pods (app=egress-probe) logs in the probe namespaces',
    });
    // Records of pods a restart replaces are read while those pods still run.
    const collector = setInterval(() => void collect().catch(() => {}), 500);
    const restartProbes = async (): Promise<void> => {
      await collect();
      for (const namespace of Object.values(probes!.namespaces)) {
        await restartDeployment(kube, namespace, 'egress-probe');
      }
      for (const namespace of Object.values(probes!.namespaces)) {
        await waitForRollout(stepContext, namespace, 'egress-probe');
      }
    };
    const overlay = async (gateway: boolean): Promise<string> =>
      writeOverlay(runDir, {
        outboundTrafficPolicy: 'ALLOW_ANY',
        accessLogEncoding: target.istio.accessLog.encoding,
        egressGateway: gateway,
        gatewayReplicas: UPGRADE_DEFAULTS.gatewayReplicas,
      });
    const gatewayNamespace = target.istio.gateway.namespace;
    try {
      if (upgrade.style === 'in-place') {
        await step(stepContext, `istioctl ${upgrade.to} install`, async () => {
          await istioctl(
            stepContext,
            ['install', '-y', '-f', await overlay(true)],
            'istioctl install',
          );
          await waitForRollout(stepContext, gatewayNamespace, GATEWAY);
        });
        await step(stepContext, 'restart the gateway', async () => {
          await restartDeployment(kube, gatewayNamespace, GATEWAY);
          await waitForRollout(stepContext, gatewayNamespace, GATEWAY);
        });
        await step(stepContext, 'mixed versions: old sidecars, new gateway', () =>
          waitForNewRecords(collect, upgrade.probeIntervalMs, timeouts.configPropagation),
        );
        await step(stepContext, 'restart the workloads', restartProbes);
      } else {
        const revision = ISTIO_UPGRADE.canaryRevision;
        await step(
          stepContext,
          `istioctl ${upgrade.to} install --revision ${revision}`,
          async () => {
            await istioctl(
              stepContext,
              ['install', '-y', '-f', await overlay(false), '--revision', revision],
              'istioctl install --revision',
            );
          },
        );
        await step(stepContext, `move the workloads to revision ${revision}`, async () => {
          for (const namespace of Object.values(probes!.namespaces)) {
            await moveNamespaceToRevision(kube, namespace, revision);
          }
          await restartProbes();
        });
        await step(stepContext, 'mixed versions: new sidecars, old gateway', () =>
          waitForNewRecords(collect, upgrade.probeIntervalMs, timeouts.configPropagation),
        );
        await step(stepContext, `move the gateway to revision ${revision}`, async () => {
          await istioctl(
            stepContext,
            ['install', '-y', '-f', await overlay(true), '--revision', revision],
            'istioctl install --revision (gateway)',
          );
          await waitForRollout(stepContext, gatewayNamespace, GATEWAY);
        });
        await step(stepContext, `istioctl uninstall --revision default`, async () => {
          await istioctl(
            stepContext,
            ['uninstall', '--revision', 'default', '-y'],
            'istioctl uninstall',
          );
        });
      }
      await waitForNewRecords(collect, upgrade.probeIntervalMs, timeouts.configPropagation);
    } finally {
      clearInterval(collector);
    }
    rows = disruptionTable((await collect()).values(), steps, PROBE_PATHS);
    say(`disruption: ${describeDisruption(rows)}`);
    for (const row of rows) {
      const over = row.failed > upgrade.maxDisruption;
      cases.push({
        suite: 'upgrade',
        group: 'disruption',
        name: `[upgrade] egress through the gateway stays up on the ${row.path} path during the ${upgrade.style} upgrade ${upgrade.from} -> ${upgrade.to}`,
        state: over ? 'failed' : 'passed',
        durationMs: Date.now() - started.getTime(),
        ...(over
          ? {
              message: `disruption on the ${row.path} path exceeds --max-disruption ${upgrade.maxDisruption}: ${describeDisruption([row])}`,
            }
          : {}),
        meta: {},
      });
    }

    // After the upgrade the suites test what now runs: revision b after a canary.
    target.istio = await detectIstio(
      kube,
      upgrade.style === 'canary' ? { revision: ISTIO_UPGRADE.canaryRevision } : {},
    );
    await phase('after');
    for (const namespace of Object.values(probes.namespaces)) {
      const analysis = await istioctl(
        stepContext,
        ['analyze', '-n', namespace],
        'istioctl analyze',
      );
      say(`istioctl analyze ${namespace}: ${analysis.trim()}`);
    }
    code = cases.some((entry) => entry.state === 'failed') ? EXIT_CONFORMANCE_FAILURE : EXIT_PASSED;
  } catch (error) {
    complain(
      error instanceof Error ? (error.message.split('\n')[0] ?? error.message) : String(error),
    );
    code = run.signal.aborted ? 130 : EXIT_ENVIRONMENT_ERROR;
  } finally {
    if (provider && probes && context) {
      const kube = connect({ kubeconfigPath: context.target.kubeconfigPath });
      for (const namespace of Object.values(probes.namespaces)) {
        await deleteNamespaceAndWait(kube, {
          name: namespace,
          runId,
          timeoutMs: context.timeouts.deletion,
        }).catch(() => {});
      }
    }
    await provider?.release({ keep: options.keepCluster, progress }).catch(() => {});
    report.cases = cases;
    report.finishedAt = new Date();
    await writeUpgradeReports(reportsDir, options.junit, report, context, cases, started, {
      upgrade,
      steps,
      rows,
    }).catch((error: unknown) => {
      complain(
        `writing the reports failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      code = EXIT_ENVIRONMENT_ERROR;
    });
  }
  return code;
}

/** Waits until every path has recorded a few more requests than now. */
async function waitForNewRecords(
  collect: () => Promise<Map<string, ProbeRecord>>,
  intervalMs: number,
  timeoutMs: number,
): Promise<void> {
  const before = (await collect()).size;
  const wanted = before + PROBE_PATHS.length * 3;
  await pollUntil({
    what: 'the disruption probes to record more requests',
    timeoutMs: Math.max(timeoutMs, intervalMs * 20),
    intervalMs: Math.max(100, intervalMs),
    observe: async () => (await collect()).size,
    done: (size) => size >= wanted,
    hint: 'read the probe pods (app=egress-probe) logs in the probe namespaces',
  });
}

async function writeUpgradeReports(
  reportsDir: string,
  junit: string,
  report: ReturnType<typeof createRunReport>,
  context: RunContext | undefined,
  cases: CaseResult[],
  started: Date,
  upgrade: { upgrade: UpgradeOptions; steps: UpgradeStep[]; rows: PathDisruption[] },
): Promise<void> {
  await mkdir(reportsDir, { recursive: true });
  if (context) await writeJUnit(path.resolve(junit), renderJUnit(context, cases, started));
  await writeConformanceReports(reportsDir, report);
  await writeSummary(reportsDir, report);
  const document = {
    from: upgrade.upgrade.from,
    to: upgrade.upgrade.to,
    style: upgrade.upgrade.style,
    probeIntervalMs: upgrade.upgrade.probeIntervalMs,
    maxDisruption: upgrade.upgrade.maxDisruption,
    steps: upgrade.steps.map((s) => ({
      name: s.name,
      startedAt: s.startedAt.toISOString(),
      endedAt: s.endedAt?.toISOString(),
    })),
    disruption: upgrade.rows,
  };
  await writeFile(path.join(reportsDir, 'upgrade.json'), `${JSON.stringify(document, null, 2)}\n`);
  await appendFile(
    path.join(reportsDir, 'summary.md'),
    `\n## Upgrade ${upgrade.upgrade.from} → ${upgrade.upgrade.to} (${upgrade.upgrade.style})\n\n${disruptionMarkdown(upgrade.rows)}\n\nSteps: ${upgrade.steps
      .map((s) => `${s.name} (${s.startedAt.toISOString()} – ${s.endedAt?.toISOString() ?? '?'})`)
      .join('; ')}\n`,
  );
}
