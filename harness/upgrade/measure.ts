/**
 * What the whole upgrade and `--disruption check` both measure: the probes' records (with
 * the client sidecars' flags of failed requests), the proxy versions on each side, B1/B3
 * on the probe requests while old and new proxies are mixed, the disruption table, and
 * `istioctl analyze` of the probe namespaces.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { findOnPath } from '../binaries.ts';
import { proxyContainer } from '../facts.ts';
import { imageVersion } from '../istio/detect.ts';
import type { Kube } from '../k8s/client.ts';
import { isPodReady, listPods } from '../k8s/workloads.ts';
import type { ClusterTarget } from '../providers/types.ts';
import { REQUIRED_CONSECUTIVE_OBSERVATIONS } from '../timeouts.ts';
import { ISTIOCTL_ANALYZE, ISTIOCTL_EXIT } from '../facts/istioctl.ts';
import { describeDisruption, disruptionTable, type UpgradeStep } from './disruption.ts';
import type { Entry } from './entry.ts';
import { annotateResponseFlags, mixedVersionCases } from './evidence.ts';
import {
  pathsOf,
  readProbeRecords,
  waitForNewRecords,
  type ProbeRecord,
  type ProbeSet,
} from './probes.ts';
import {
  describeAnalyze,
  describeProxies,
  disruptionCases,
  upgradeSection,
  type AnalyzeResult,
  type ProxyVersions,
} from './report.ts';
import { istioctlOutput, step, type Istioctl, type StepContext } from './steps.ts';

/** Reads every record so far; the flags of a failed request are read while its pod still runs. */
export type Collect = () => Promise<Map<string, ProbeRecord>>;

/** A {@link Collect} that keeps what it read before (pods a restart replaced are gone). */
export function recordCollector(kube: Kube, probes: ProbeSet): Collect {
  const known = new Map<string, ProbeRecord>();
  return async () => {
    const records = await readProbeRecords(kube, probes, known);
    await annotateResponseFlags(kube, probes, records);
    return records;
  };
}

function proxyVersionsOf(pods: readonly V1Pod[]): string[] {
  const versions = pods
    .map((pod) => (proxyContainer(pod) as V1Container | undefined)?.image)
    .filter((image) => image !== undefined)
    .map(imageVersion);
  return [...new Set(versions)].sort();
}

/** The proxy versions the probe clients and the ready gateway pods run now. */
export async function readProxyVersions(
  kube: Kube,
  target: ClusterTarget,
  probes: ProbeSet,
  label: string,
): Promise<ProxyVersions> {
  const clients: V1Pod[] = [];
  for (const namespace of Object.values(probes.namespaces)) {
    clients.push(...(await listPods(kube, namespace, 'app=egress-probe')));
  }
  const { namespace, selector } = target.istio.gateway;
  const gateway = (await listPods(kube, namespace, `${selector.key}=${selector.value}`)).filter(
    isPodReady,
  );
  const seen = { clients: proxyVersionsOf(clients), gateway: proxyVersionsOf(gateway) };
  const mixed =
    seen.clients.length === 0 || seen.gateway.length === 0
      ? null
      : new Set([...seen.clients, ...seen.gateway]).size > 1;
  return { label, at: new Date().toISOString(), ...seen, mixed };
}

/**
 * While old and new proxies are mixed, as a timed step named `label`: a few more probe
 * requests per path, then B1/B3 (B2 on the mTLS path) judged on them with the gateway's own
 * access-log entries of the window; the proxy versions of both sides go into the report.
 */
export async function checkMixedVersions(
  entry: Entry,
  {
    probes,
    collect,
    label,
    pace,
  }: {
    probes: ProbeSet;
    collect: Collect;
    label: string;
    pace: { intervalMs: number; timeoutMs: number };
  },
): Promise<void> {
  const { kube, target } = entry.session;
  const since = new Date();
  await step({ steps: entry.steps, log: entry.run.say }, label, () =>
    waitForNewRecords(collect, pathsOf(probes), {
      ...pace,
      perPath: REQUIRED_CONSECUTIVE_OBSERVATIONS + 2,
    }),
  );
  const versions = await readProxyVersions(kube, target, probes, label);
  entry.notes.proxyVersions.push(versions);
  entry.run.say(`proxies during "${label}": ${describeProxies(versions)}`);
  entry.cases.push(
    ...(await mixedVersionCases({
      kube,
      target,
      probes,
      records: (await collect()).values(),
      since,
      label,
      required: REQUIRED_CONSECUTIVE_OBSERVATIONS,
    })),
  );
}

/** The disruption table of the records against the steps, into the entry's rows and cases. */
export function measureDisruption(
  entry: Entry,
  records: Map<string, ProbeRecord>,
  probes: ProbeSet,
  steps: readonly UpgradeStep[] = entry.steps,
): void {
  const { run } = entry;
  entry.rows = disruptionTable(records.values(), steps, pathsOf(probes));
  run.say(`disruption: ${describeDisruption(entry.rows)}`);
  const section = upgradeSection({ upgrade: run.upgrade, steps, rows: entry.rows });
  entry.cases.push(...disruptionCases(section, Date.now() - entry.started.getTime()));
}

/**
 * `istioctl analyze` of one namespace, at `--failure-threshold Error` (passed explicitly: it
 * is istioctl's default since 1.8, while an older `--istioctl` would fail on warnings). Exit
 * 79 (ISTIOCTL_EXIT.analyzerFoundIssues) is analyze's answer, not a broken istioctl: its
 * messages are kept as for exit 0, marked as found issues. Any other non-zero exit is thrown
 * (ToolFailedError), as for every istioctl step of an upgrade.
 */
export async function analyzeNamespace(
  context: StepContext,
  namespace: string,
): Promise<AnalyzeResult> {
  const failureThreshold = ISTIOCTL_ANALYZE.defaultFailureThreshold;
  const { stdout, stderr, exitCode } = await istioctlOutput(
    context,
    ['analyze', '-n', namespace, ISTIOCTL_ANALYZE.failureThresholdFlag, failureThreshold],
    'istioctl analyze',
    [ISTIOCTL_EXIT.analyzerFoundIssues],
  );
  // The messages go to stdout, the verdict ("✔ No validation issues …", "Error: Analyzers
  // found issues …") to stderr: the report keeps both, in that order.
  const output = [stdout.trim(), stderr.trim()].filter(Boolean).join('\n');
  return {
    namespace,
    output,
    foundIssues: exitCode === ISTIOCTL_EXIT.analyzerFoundIssues,
    failureThreshold,
  };
}

/**
 * `istioctl analyze` on each namespace, after the upgrade, into the report. Findings at the
 * failure threshold (Error) are reported (the report's `analyze` entries, the run log,
 * summary.md) and do not fail the run: these are the run's own probe namespaces, whose
 * configuration the suites and the disruption cases already judge by its effect, and analyze
 * may flag what a given Istio release merely dislikes. A failing istioctl is the run's error
 * (exit 2), as every istioctl step of an upgrade is.
 */
export async function analyzeNamespaces(
  entry: Entry,
  context: StepContext,
  namespaces: readonly string[],
): Promise<void> {
  // One istioctl per namespace at once: analyze only reads the cluster, and one after another
  // they were a tenth of a simulated upgrade run. Reported in the namespaces' order.
  const results = await Promise.all(
    namespaces.map((namespace) => analyzeNamespace(context, namespace)),
  );
  for (const result of results) {
    entry.notes.analyze.push(result);
    entry.run.say(`${describeAnalyze(result)}: ${result.output}`);
  }
}

/**
 * An istioctl for `istioctl analyze` after an upgrade done by other tooling: `--istioctl`,
 * else the provider's for the running version (kind downloads and verifies it), else the
 * first on PATH; or, where there is none, why (the user's istioctl may be absent on an
 * existing cluster, which is no reason to fail the run).
 */
export async function analyzeTool(entry: Entry): Promise<Istioctl | { notRun: string }> {
  const { run, session } = entry;
  if (run.options.istioctlPath) return { path: run.options.istioctlPath, env: process.env };
  const version = session.target.istio.version;
  if (session.provider.istioctlFor) {
    try {
      return await session.provider.istioctlFor(version);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { notRun: `no istioctl ${version}: ${message.split('\n')[0] ?? message}` };
    }
  }
  const onPath = await findOnPath('istioctl');
  if (onPath) return { path: onPath, env: process.env };
  return {
    notRun: `no istioctl on PATH and no --istioctl; the ${run.options.cluster} cluster provider brings none`,
  };
}
