/**
 * `--upgrade-from A`: install A, run the suites (phase `before`), start the disruption
 * probes, upgrade to B step by step (in place or canary), run the suites again (phase
 * `after`), and report both phases with the disruption table. `--disruption start|check`
 * (two-phase.ts) share the frame (entry.ts) and the measuring (measure.ts), not the upgrade.
 */
import { writeOverlay } from '../istio/overlay.ts';
import { detectIstio } from '../istio/detect.ts';
import { EnvironmentError } from '../errors.ts';
import { ISTIO_UPGRADE } from '../facts/upgrade.ts';
import { UPGRADE_DEFAULTS } from './options.ts';
import { restartDeployment } from '../k8s/workloads.ts';
import { pathsOf, waitForNewRecords, waitForProbes, type ProbeSet } from './probes.ts';
import {
  istioctl,
  moveNamespaceToRevision,
  step,
  waitForRollout,
  type StepContext,
} from './steps.ts';
import type { Session, UpgradeRunOptions } from './session.ts';
import { runDisruptionCheck, runDisruptionStart } from './two-phase.ts';
import { precheck } from './precheck.ts';
import { phase, runEntry, startOwnProbes } from './entry.ts';
import {
  analyzeNamespaces,
  checkMixedVersions,
  measureDisruption,
  recordCollector,
  type Collect,
} from './measure.ts';

export type { UpgradeRunOptions } from './session.ts';

const GATEWAY = 'istio-egressgateway';

/** Runs what the upgrade flags ask for and returns the exit code. */
export async function runUpgrade(run: UpgradeRunOptions): Promise<number> {
  if (run.upgrade.mode === 'start') return runDisruptionStart(run);
  if (run.upgrade.mode === 'check') return runDisruptionCheck(run);
  return runEntry(run, {
    istioVersion: run.upgrade.from,
    keepCluster: run.options.keepCluster,
    body: async (entry) => {
      const { options, upgrade, say } = run;
      const { session } = entry;
      const { target, kube, timeouts } = session;
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
        steps: entry.steps,
        log: say,
        signal: run.signal,
      };
      // istioctl x precheck before anything changes, while phase before runs (neither changes
      // the mesh): an error stops the run (exit 2) before the upgrade starts.
      const prechecked = precheck(stepContext);
      // Its failure is reported once phase before has ended, not as an unhandled rejection.
      prechecked.catch(() => undefined);
      // Interrupted during phase before: the run stops as interrupted, whatever the precheck
      // (cancelled by the same signal) ended with.
      if ((await phase(entry, 'before')).stop) return;
      for (const line of (await prechecked).warnings) {
        entry.notes.precheckWarnings.push(line);
        say(`precheck warning: ${line}`);
      }

      const probes = await startOwnProbes(entry, 'Deployment');
      const collect = recordCollector(kube, probes);
      const pace = { intervalMs: upgrade.probeIntervalMs, timeoutMs: timeouts.configPropagation };
      await waitForProbes(collect, pathsOf(probes), {
        timeoutMs: timeouts.podReady + timeouts.configPropagation,
        intervalMs: upgrade.probeIntervalMs,
      });
      // Records of pods a restart replaces are read while those pods still run.
      const collector = setInterval(() => void collect().catch(() => {}), 500);
      try {
        const mixed = (label: string): Promise<void> =>
          checkMixedVersions(entry, { probes, collect, label, pace });
        await upgradeSteps(run, session, stepContext, probes, collect, mixed);
        await waitForNewRecords(collect, pathsOf(probes), pace);
      } finally {
        clearInterval(collector);
      }
      measureDisruption(entry, await collect(), probes);

      // After the upgrade the suites test what now runs: revision b after a canary.
      target.istio = await detectIstio(
        kube,
        upgrade.style === 'canary' ? { revision: ISTIO_UPGRADE.canaryRevision } : {},
      );
      // istioctl analyze after the upgrade, on the namespaces this run created and kept until
      // now, while phase after runs: both only read what the upgrade left, and one after the
      // other analyze's processes added seconds to every upgrade run.
      const analyzed = analyzeNamespaces(entry, stepContext, Object.values(probes.namespaces));
      // Its failure is reported once phase after has ended, not as an unhandled rejection.
      analyzed.catch(() => undefined);
      await phase(entry, 'after');
      await analyzed;
    },
  });
}

/** The upgrade itself, as timed steps, in the chosen style. */
async function upgradeSteps(
  run: UpgradeRunOptions,
  session: Session,
  stepContext: StepContext,
  probes: ProbeSet,
  collect: Collect,
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
