/**
 * The two-phase mode for clusters upgraded by other tooling (Helm, an operator, a managed
 * mesh). `--disruption start` runs phase `before`, starts the probes and leaves them
 * running, and prints an id; `--disruption check --id ID` reads the probes' records from the
 * cluster (their own logs), checks B1/B3 on them while the old probes and the upgraded
 * gateway are mixed, runs `istioctl analyze` where an istioctl is at hand, stops the probes,
 * runs phase `after`, and reports. Nothing of the first half lives on the machine that ran
 * it: the second may run anywhere.
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import { EXIT_ENVIRONMENT_ERROR, EnvironmentError } from '../errors.ts';
import { errorText } from '../k8s/client.ts';
import {
  pathsOf,
  probeHostKey,
  probeNamespace,
  waitForProbes,
  type ProbePath,
  type ProbeSet,
} from './probes.ts';
import { deleteProbeNamespaces, type Session, type UpgradeRunOptions } from './session.ts';
import { phase, runEntry, startOwnProbes, type Entry } from './entry.ts';
import {
  analyzeNamespaces,
  analyzeTool,
  checkMixedVersions,
  measureDisruption,
  readProxyVersions,
  recordCollector,
} from './measure.ts';
import { describeProxies } from './report.ts';

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
  const { options, upgrade, runId, say } = run;
  return runEntry(run, {
    istioVersion: options.istioVersion,
    keepCluster: true,
    id: runId,
    body: async (entry) => {
      const { target, kube, timeouts } = entry.session;
      upgrade.from = target.istio.version;
      upgrade.to = target.istio.version;
      const before = await phase(entry, 'before');
      if (before.stop) return;
      const probes = await startOwnProbes(entry, 'Pod');
      await waitForProbes(recordCollector(kube, probes), pathsOf(probes), {
        timeoutMs: timeouts.podReady + timeouts.configPropagation,
        intervalMs: upgrade.probeIntervalMs,
      });
      const state: ProbeState = {
        from: target.istio.version,
        intervalMs: upgrade.probeIntervalMs,
        probesStartedAt: new Date().toISOString(),
        paths: pathsOf(probes),
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
      // Handed over: the probes stay for `check`.
      entry.probes = undefined;
      say(
        `disruption probes running (id ${runId}); upgrade Istio with your tooling, then run: npm run conformance -- ${checkCommand(run)}`,
      );
    },
  });
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
  const { options, upgrade } = run;
  const id = upgrade.id ?? '';
  return runEntry(run, {
    istioVersion: options.istioVersion,
    keepCluster: options.keepCluster,
    id,
    body: async (entry) => {
      const { session } = entry;
      const { target, kube, timeouts } = session;
      const state = await readState(session, id);
      upgrade.from = state.from;
      upgrade.to = target.istio.version;
      upgrade.probeIntervalMs = state.intervalMs;
      const probes: ProbeSet = {
        runId: id,
        intervalMs: state.intervalMs,
        namespaces: Object.fromEntries(state.paths.map((path) => [path, probeNamespace(id, path)])),
        hosts: Object.fromEntries(
          state.paths.map((path) => [path, target.externalHosts[probeHostKey(path)]?.name ?? '']),
        ),
      };
      entry.probes = { runId: id, namespaces: Object.values(probes.namespaces) };
      entry.steps.push({
        name: `the upgrade by other tooling (${state.from} -> ${target.istio.version})`,
        startedAt: new Date(state.probesStartedAt),
        endedAt: new Date(),
      });
      const collect = recordCollector(kube, probes);
      await checkMixedWindow(entry, probes, collect, {
        intervalMs: state.intervalMs,
        timeoutMs: timeouts.configPropagation,
      });
      // Every record before the probes stop: phase after may use the same host.
      measureDisruption(entry, await collect(), probes);
      await analyzeProbes(entry, Object.values(probes.namespaces));
      await deleteProbeNamespaces(session, id, Object.values(probes.namespaces));
      entry.probes = undefined;
      await phase(entry, 'after');
    },
  });
}

/**
 * The probes are bare pods that keep the proxy they started with, so once other tooling
 * upgraded the gateway they are old sidecars going through a new gateway. When the versions
 * read now say so, B1/B3 are checked on their requests as in a whole upgrade; otherwise the
 * report says which single version both sides run (or that a side had nothing to read).
 */
async function checkMixedWindow(
  entry: Entry,
  probes: ProbeSet,
  collect: ReturnType<typeof recordCollector>,
  pace: { intervalMs: number; timeoutMs: number },
): Promise<void> {
  const { kube, target } = entry.session;
  const now = await readProxyVersions(kube, target, probes, 'at the check');
  if (now.mixed) {
    const label = `mixed versions: sidecars ${now.clients.join(', ')}, gateway ${now.gateway.join(', ')}`;
    await checkMixedVersions(entry, { probes, collect, label, pace });
    return;
  }
  entry.notes.proxyVersions.push(now);
  entry.run.say(`proxies at the check: ${describeProxies(now)}; no mixed-version check`);
}

/** `istioctl analyze` of the probe namespaces after the upgrade, or why it did not run. */
async function analyzeProbes(entry: Entry, namespaces: readonly string[]): Promise<void> {
  const tool = await analyzeTool(entry);
  if ('notRun' in tool) {
    entry.notes.analyzeNotRun = tool.notRun;
    entry.run.say(`istioctl analyze not run: ${tool.notRun}`);
    return;
  }
  const { kube, target, timeouts } = entry.session;
  await analyzeNamespaces(
    entry,
    {
      kube,
      kubeconfigPath: target.kubeconfigPath,
      istioctl: tool,
      timeoutMs: timeouts.istioInstall,
      steps: [],
      log: entry.run.say,
      signal: entry.run.signal,
    },
    namespaces,
  );
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
