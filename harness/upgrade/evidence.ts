/**
 * Evidence beyond the probes' own outcomes: the Envoy response flags of failed HTTP probe
 * requests, from the client sidecar's access log; and, while old and new proxies are mixed,
 * the gateway's access-log entries for the probe requests (B1's and B3's core checks: the
 * request went through the gateway to the external host's cluster), not only success.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { Kube } from '../k8s/client.ts';
import { readContainerLog } from '../k8s/logs.ts';
import { isPodReady, listPods } from '../k8s/workloads.ts';
import { parseAccessLog, type AccessLogEntry } from '../envoy/access-log.ts';
import { istioClusterName } from '../facts/envoy.ts';
import { PROXY_CONTAINER } from '../facts.ts';
import type { ClusterTarget } from '../providers/types.ts';
import type { CaseResult } from '../reporting/junit.ts';
import { failureClass } from './disruption.ts';
import { pathsOf, type ProbePath, type ProbeRecord, type ProbeSet } from './probes.ts';

/** The request path of a probe request: its id. */
function requestPath(record: ProbeRecord): string {
  return `/probe/${record.id}`;
}

const HTTP_PATHS: readonly ProbePath[] = ['http', 'mtls'];

/**
 * Sets `responseFlags` on failed HTTP probe records from the sidecar access log of the pods
 * that sent them (pods a restart replaced are gone, with their logs: those keep none).
 */
export async function annotateResponseFlags(
  kube: Kube,
  probes: ProbeSet,
  records: Map<string, ProbeRecord>,
): Promise<void> {
  const failed = [...records.values()].filter(
    (record) =>
      HTTP_PATHS.includes(record.path) &&
      record.responseFlags === undefined &&
      failureClass(record)?.startsWith('HTTP') === true,
  );
  for (const path of HTTP_PATHS) {
    const namespace = probes.namespaces[path];
    if (!namespace) continue;
    for (const pod of await listPods(kube, namespace, 'app=egress-probe')) {
      const name = pod.metadata?.name ?? '';
      const mine = failed.filter(
        (record) => record.path === path && record.id.startsWith(`${name}/`),
      );
      if (mine.length === 0) continue;
      const text = await readContainerLog(kube, {
        namespace,
        pod: name,
        container: PROXY_CONTAINER,
      }).catch(() => '');
      const flags = new Map<string, string>();
      for (const entry of parseAccessLog(text)) {
        if (entry.path && entry.responseFlags) flags.set(entry.path, entry.responseFlags);
      }
      for (const record of mine) {
        const found = flags.get(requestPath(record));
        if (found) record.responseFlags = found;
      }
    }
  }
}

/** What one path's mixed-version check saw. */
export interface MixedVerdict {
  path: ProbePath;
  passed: boolean;
  message: string;
}

/**
 * Judges one path from the probe records of the window and the gateway's entries: at least
 * `required` successful requests, each HTTP one with a gateway entry for its own path and
 * upstream `outbound|80||HOST`; for TLS, as many gateway TCP entries with SNI HOST, upstream
 * `outbound|443||HOST` and a probe pod as the downstream peer.
 */
export function judgeMixed({
  path,
  host,
  records,
  entries,
  probeIps,
  required,
  label,
}: {
  path: ProbePath;
  host: string;
  records: readonly ProbeRecord[];
  entries: readonly AccessLogEntry[];
  probeIps: readonly string[];
  required: number;
  label: string;
}): MixedVerdict {
  // The request probe's requests: the long-lived connection's are logged once per connection.
  const ok = records.filter(
    (record) =>
      record.path === path && record.connection === undefined && failureClass(record) === undefined,
  );
  let matched: number;
  let expectation: string;
  if (path === 'tls') {
    const cluster = istioClusterName(443, host);
    expectation = `a gateway TCP entry with SNI ${host}, upstream ${cluster} and a probe pod as the peer`;
    matched = entries.filter(
      (entry) =>
        entry.requestedServerName === host &&
        entry.upstreamCluster === cluster &&
        probeIps.some((ip) => entry.downstreamRemoteAddress?.startsWith(`${ip}:`) === true),
    ).length;
    matched = Math.min(matched, ok.length);
  } else {
    const cluster = istioClusterName(80, host);
    expectation = `a gateway entry for the request's own path with upstream ${cluster}`;
    const logged = new Set(
      entries.filter((entry) => entry.upstreamCluster === cluster).map((entry) => entry.path),
    );
    matched = ok.filter((record) => logged.has(requestPath(record))).length;
  }
  const passed = ok.length >= required && matched >= required;
  return {
    path,
    passed,
    message: `${matched} of ${ok.length} successful ${path} probe requests during "${label}" have ${expectation} (${required} needed); the gateway logged ${entries.length} entries in that window`,
  };
}

/** The gateway's access-log entries since `since`, from every ready gateway pod. */
async function gatewayEntries(
  kube: Kube,
  target: ClusterTarget,
  since: Date,
): Promise<AccessLogEntry[]> {
  const { namespace, selector } = target.istio.gateway;
  const pods = (await listPods(kube, namespace, `${selector.key}=${selector.value}`)).filter(
    isPodReady,
  );
  const entries: AccessLogEntry[] = [];
  // sinceTime has second resolution on the API: ask a little earlier, filter exactly below.
  const asked = new Date(since.getTime() - 2000);
  for (const pod of pods) {
    const text = await readContainerLog(kube, {
      namespace,
      pod: pod.metadata?.name ?? '',
      container: PROXY_CONTAINER,
      since: asked,
    });
    entries.push(...parseAccessLog(text).filter((entry) => entry.startTime >= since));
  }
  return entries;
}

/** The mixed-version checks of every probed path, as cases named for the window. */
export async function mixedVersionCases({
  kube,
  target,
  probes,
  records,
  since,
  label,
  required,
}: {
  kube: Kube;
  target: ClusterTarget;
  probes: ProbeSet;
  records: Iterable<ProbeRecord>;
  since: Date;
  label: string;
  required: number;
}): Promise<CaseResult[]> {
  const entries = await gatewayEntries(kube, target, since);
  const window = [...records].filter((record) => record.at >= since);
  const cases: CaseResult[] = [];
  for (const path of pathsOf(probes)) {
    const namespace = probes.namespaces[path] ?? '';
    const pods: V1Pod[] = await listPods(kube, namespace, 'app=egress-probe');
    const verdict = judgeMixed({
      path,
      host: probes.hosts[path] ?? '',
      records: window,
      entries,
      probeIps: pods.map((pod) => pod.status?.podIP ?? '').filter(Boolean),
      required,
      label,
    });
    const behaviour = path === 'tls' ? 'B3' : path === 'mtls' ? 'B2' : 'B1';
    cases.push({
      suite: 'upgrade',
      group: 'mixed versions',
      name: `[upgrade] ${label}: ${behaviour} holds on the ${path} path, with the gateway's access-log entries for the probe requests`,
      state: verdict.passed ? 'passed' : 'failed',
      durationMs: 0,
      ...(verdict.passed ? {} : { message: verdict.message }),
      meta: {},
    });
  }
  return cases;
}
