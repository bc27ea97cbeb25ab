/**
 * Disruption probes: per path through the egress gateway, a client with a sidecar runs one
 * `curl --rate` over a numbered URL glob, so every request has its own id
 * (`/probe/<pod>/<n>`) and curl prints one line per request into the client's log. The log
 * is the record: it lives in the cluster, so a later process (`--disruption check`) reads it.
 */
import { Writable } from 'node:stream';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Kube } from '../k8s/client.ts';
import { errorText } from '../k8s/client.ts';
import { createNamespace } from '../k8s/namespaces.ts';
import { applyObjects } from '../k8s/objects.ts';
import { loadManifests } from '../manifests.ts';
import { apiVariant } from '../api/index.ts';
import { injectionLabels } from '../facts/injection.ts';
import { CURL_RATE, curlRateFor } from '../facts/upgrade.ts';
import { CURL_CONNECTION_REUSE, HTTP_CONNECTION_CLOSE } from '../facts/long-lived-connections.ts';
import type { ClusterTarget } from '../providers/types.ts';
import {
  CONNECTION_CONTAINER,
  connectionContainer,
  parseConnectionLog,
  type ConnectionSample,
} from './connection-probe.ts';
import { pollUntil } from '../wait.ts';

/** The paths a probe measures: HTTP through the gateway, TLS passed through, HTTP over mTLS to the gateway. */
export const PROBE_PATHS = ['http', 'tls', 'mtls'] as const;
export type ProbePath = (typeof PROBE_PATHS)[number];

/** The pseudo-suite whose external host a path uses (one host per path, as per suite). */
export function probeHostKey(path: ProbePath): string {
  return `upgrade-probe-${path}`;
}

/** Where each path's configuration comes from: the suites' own manifests. */
const CONFIG: Record<ProbePath, { files: string[]; scheme: 'http' | 'https' }> = {
  http: { files: ['http-gateway/istio-api'], scheme: 'http' },
  tls: { files: ['passthrough/istio-api'], scheme: 'https' },
  mtls: {
    files: ['http-gateway/istio-api/service-entry.yaml', 'http-gateway/istio-api/mtls'],
    scheme: 'http',
  },
};

/**
 * The paths probed at once on `target`. Each needs its own external host: a sidecar applies
 * one VirtualService per host (the oldest), so the three paths' configurations for one
 * shared host (`--external internet` or `host:`) would collide, and a path could leave
 * without the gateway and measure nothing. A shared host leaves the HTTP path only.
 */
export function probePathsFor(target: ClusterTarget): ProbePath[] {
  const hosts = PROBE_PATHS.map((path) => target.externalHosts[probeHostKey(path)]?.name);
  return new Set(hosts).size === hosts.length ? [...PROBE_PATHS] : ['http'];
}

/** The marker that starts each record line curl writes. */
export const RECORD_MARKER = 'egress-probe';

/** One request's outcome, as the probe recorded it. */
export interface ProbeRecord {
  path: ProbePath;
  /** `<pod>/<n>`: unique per request. */
  id: string;
  at: Date;
  httpCode: number;
  curlExit: number;
  /** Envoy's response flags for a failed HTTP request, from the client sidecar's access log. */
  responseFlags?: string;
  /** Set on the long-lived connection's requests only (connection-probe.ts). */
  connection?: ConnectionSample;
}

/** Where a record is kept: request and connection probes number their requests alike. */
export function recordKey(record: ProbeRecord): string {
  return `${record.connection ? 'connection' : record.path}:${record.id}`;
}

/** The probes of one run, as `start` left them. */
export interface ProbeSet {
  runId: string;
  /** The namespace of each probed path. */
  namespaces: Partial<Record<ProbePath, string>>;
  /** The external host each probed path reaches. */
  hosts: Partial<Record<ProbePath, string>>;
  intervalMs: number;
}

/** The paths a probe set measures. */
export function pathsOf(probes: ProbeSet): ProbePath[] {
  return PROBE_PATHS.filter((path) => probes.namespaces[path] !== undefined);
}

/** The namespace of one path's probe. */
export function probeNamespace(runId: string, path: ProbePath): string {
  return `egc-${runId}-probe-${path}`;
}

/**
 * How a probe runs: a Deployment, which the upgrade's "restart the workloads" step rolls onto
 * the new proxy; or a bare Pod (two-phase mode), which the user's own `kubectl rollout
 * restart` leaves alone, so its log (the record) survives the upgrade, and what it measures
 * is a workload still on the old proxy going through the upgraded gateway (istio/istio#22842).
 */
export type ProbeWorkload = 'Deployment' | 'Pod';

/** The probe client that runs the probe loop. */
function probeWorkload(
  kind: ProbeWorkload,
  namespace: string,
  url: string,
  intervalMs: number,
  image: string,
  withConnection: boolean,
): KubernetesObject {
  const labels = { app: 'egress-probe' };
  const pod = {
    metadata: { labels },
    spec: {
      // A bare pod's curl, should it end, starts again; its earlier log stays readable
      // as the previous container's (read with previous=true).
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 0,
      containers: [
        {
          name: 'curl',
          image,
          command: [
            'curl',
            '-sS',
            '-k',
            // curl would send every request of the glob over one connection
            // (CURL_CONNECTION_REUSE); TLS through the gateway is one TCP access-log entry per
            // connection, so each request here gets its own (HTTP_CONNECTION_CLOSE) and its own
            // gateway evidence. The long-lived connection is the other container's.
            ...(url.startsWith('https:')
              ? [CURL_CONNECTION_REUSE.http11Flag, '-H', HTTP_CONNECTION_CLOSE.header]
              : []),
            '-o',
            '/dev/null',
            '--max-time',
            '2',
            '-w',
            `${RECORD_MARKER} %{url_effective} %{http_code} %{exitcode}\\n`,
            CURL_RATE.flag,
            curlRateFor(intervalMs),
            // A glob large enough for days at any interval; $(POD_NAME) makes ids unique across restarts.
            `${url}/probe/$(POD_NAME)/[1-100000000]`,
          ],
          env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        },
        ...(withConnection ? [connectionContainer(url, intervalMs, image)] : []),
      ],
    },
  };
  if (kind === 'Pod') {
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'egress-probe', namespace, labels },
      spec: pod.spec,
    } as KubernetesObject;
  }
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'egress-probe', namespace },
    spec: { replicas: 1, selector: { matchLabels: labels }, template: pod },
  } as KubernetesObject;
}

/** Creates each path's namespace, configuration and probe client. */
export async function startProbes({
  kube,
  target,
  runId,
  intervalMs,
  clientImage,
  manifestsDir,
  paths = probePathsFor(target),
  workload = 'Deployment',
}: {
  kube: Kube;
  target: ClusterTarget;
  runId: string;
  intervalMs: number;
  clientImage: string;
  manifestsDir: string;
  paths?: readonly ProbePath[];
  workload?: ProbeWorkload;
}): Promise<ProbeSet> {
  const namespaces: Partial<Record<ProbePath, string>> = {};
  const hosts: Partial<Record<ProbePath, string>> = {};
  for (const path of paths) {
    const namespace = probeNamespace(runId, path);
    const host = target.externalHosts[probeHostKey(path)] ?? Object.values(target.externalHosts)[0];
    if (!host) throw new Error('no external host for the disruption probes');
    await createNamespace(kube, {
      name: namespace,
      runId,
      labels: injectionLabels(target.istio.revision),
    });
    const values = {
      namespace,
      name: `probe-${path}`,
      host: host.name,
      subset: 'egress-conformance',
      ...apiVariant('istio-api').templateValues(
        { target, suite: probeHostKey(path), host: host.name },
        namespace,
      ),
    };
    const objects = CONFIG[path].files.flatMap((file) =>
      loadManifests(file, values, { root: manifestsDir }),
    );
    await applyObjects(kube, objects as KubernetesObject[]);
    await applyObjects(kube, [
      probeWorkload(
        workload,
        namespace,
        `${CONFIG[path].scheme}://${host.name}`,
        intervalMs,
        clientImage,
        // The long-lived connection goes the TLS path's way: passed through by SNI.
        path === 'tls',
      ),
    ]);
    namespaces[path] = namespace;
    hosts[path] = host.name;
  }
  return { runId, namespaces, hosts, intervalMs };
}

async function readLog(
  kube: Kube,
  namespace: string,
  pod: string,
  container: string,
  previous = false,
): Promise<string> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      callback();
    },
  });
  const finished = new Promise<void>((resolve, reject) => {
    sink.on('finish', resolve);
    sink.on('error', reject);
  });
  // The kubelet's timestamps date each record; curl's own line carries the id and outcome.
  await kube.log.log(namespace, pod, container, sink, {
    follow: false,
    timestamps: true,
    previous,
  });
  await finished;
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses one probe log (with kubelet timestamps) into records. */
export function parseProbeLog(path: ProbePath, text: string): ProbeRecord[] {
  const records: ProbeRecord[] = [];
  const pattern = new RegExp(
    `^(\\S+) ${RECORD_MARKER} \\S+/probe/([^/\\s]+)/(\\d+) (\\d{3}) (\\d+)$`,
  );
  for (const line of text.split('\n')) {
    const match = pattern.exec(line.trim());
    if (!match) continue;
    records.push({
      path,
      id: `${match[2]}/${match[3]}`,
      at: new Date(match[1] ?? ''),
      httpCode: Number(match[4]),
      curlExit: Number(match[5]),
    });
  }
  return records;
}

/**
 * Reads every record the probes' current pods hold. `known` (by id) keeps records read
 * earlier from pods a restart has since replaced.
 */
export async function readProbeRecords(
  kube: Kube,
  probes: ProbeSet,
  known: Map<string, ProbeRecord> = new Map(),
): Promise<Map<string, ProbeRecord>> {
  for (const [path, namespace] of Object.entries(probes.namespaces) as [ProbePath, string][]) {
    const pods = await kube.core.listNamespacedPod({
      namespace,
      labelSelector: 'app=egress-probe',
    });
    for (const pod of pods.items) {
      const name = pod.metadata?.name;
      if (!name || pod.status?.phase !== 'Running') continue;
      const containers = [
        { container: 'curl', parse: (text: string) => parseProbeLog(path, text) },
        ...(pod.spec?.containers.some((entry) => entry.name === CONNECTION_CONTAINER)
          ? [{ container: CONNECTION_CONTAINER, parse: parseConnectionLog }]
          : []),
      ];
      for (const { container, parse } of containers) {
        let text: string;
        try {
          text = await readLog(kube, namespace, name, container);
          // A restarted curl's earlier records are the previous container's log.
          const restarts =
            pod.status?.containerStatuses?.find((status) => status.name === container)
              ?.restartCount ?? 0;
          if (restarts > 0)
            text = `${await readLog(kube, namespace, name, container, true)}\n${text}`;
        } catch (error) {
          // A pod that went away between list and read has nothing more to give.
          if (/404|not found/i.test(errorText(error))) continue;
          throw error;
        }
        // A request's outcome never changes: a record read before keeps what was added to it
        // since (the sidecar's response flags, read while its pod still ran).
        for (const record of parse(text)) {
          const key = recordKey(record);
          if (!known.has(key)) known.set(key, record);
        }
      }
    }
  }
  return known;
}

/** Waits until every path has recorded a successful request: else the table measures nothing. */
export async function waitForProbes(
  collect: () => Promise<Map<string, ProbeRecord>>,
  paths: readonly ProbePath[],
  { timeoutMs, intervalMs }: { timeoutMs: number; intervalMs: number },
): Promise<void> {
  await pollUntil({
    what: 'every disruption probe to record a successful request',
    timeoutMs,
    intervalMs: Math.max(100, intervalMs),
    observe: collect,
    done: (records) =>
      paths.every((path) =>
        [...records.values()].some((record) => record.path === path && succeeded(record)),
      ),
    describe: (records) => `${records.size} records`,
    hint: 'read the probe pods (app=egress-probe) logs in the probe namespaces',
  });
}

/** Waits until every path has recorded a few more requests than now. */
export async function waitForNewRecords(
  collect: () => Promise<Map<string, ProbeRecord>>,
  paths: readonly ProbePath[],
  {
    timeoutMs,
    intervalMs,
    perPath = 3,
  }: { timeoutMs: number; intervalMs: number; perPath?: number },
): Promise<void> {
  // The request probes' records: the long-lived connection is no path of its own.
  const requests = (records: Map<string, ProbeRecord>): number =>
    [...records.values()].filter((record) => record.connection === undefined).length;
  const before = requests(await collect());
  const wanted = before + paths.length * perPath;
  await pollUntil({
    what: 'the disruption probes to record more requests',
    timeoutMs: Math.max(timeoutMs, intervalMs * 20),
    intervalMs: Math.max(100, intervalMs),
    observe: async () => requests(await collect()),
    done: (size) => size >= wanted,
    hint: 'read the probe pods (app=egress-probe) logs in the probe namespaces',
  });
}

function succeeded(record: ProbeRecord): boolean {
  return record.curlExit === 0 && record.httpCode >= 200 && record.httpCode < 400;
}
