/**
 * What a failed test leaves behind for the person reading the reports the next
 * morning, after the cluster is gone: the proxies' logs for the test's window, their
 * Envoy config, the pods and events of the test's namespaces, the objects it applied,
 * and `istioctl analyze`. Like Istio's test framework dumps, but every collector is
 * independent, every file is redacted and capped, and `index.txt` says what is missing
 * and why.
 */
import { access, constants, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CoreV1Event, KubernetesObject, V1Pod } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { errorText } from './k8s/client.ts';
import { execInPod } from './k8s/exec.ts';
import { readContainerLog } from './k8s/logs.ts';
import { listPods } from './k8s/workloads.ts';
import { hasProxy, PROXY_CONTAINER } from './facts.ts';
import { sanitize, secretsFromKubeconfig } from './reporting/redact.ts';
import type { SuiteEnvironment } from './suite.ts';
import { withDeadline } from './wait.ts';
import { pilotAgentRequest } from './facts/envoy.ts';

/** What the collectors need of a suite's environment. */
export type DiagnosticsSubject = Pick<
  SuiteEnvironment,
  'run' | 'suite' | 'variantName' | 'gateway' | 'kube' | 'createdNamespaces' | 'applied'
>;

/** Options of {@link collectDiagnostics}. */
export interface DiagnosticsOptions {
  /** Start of the test's window: logs and events from then on [10 minutes ago]. */
  since?: Date;
  /** Each file is cut to this size, head and tail kept [1 MiB]. */
  maxFileBytes?: number;
  /** The istioctl binary; `null` skips `istioctl analyze` [`istioctl` on PATH; none on a simulated cluster]. */
  istioctl?: string | null;
  /** Budget of one collector, so a hung one cannot hold the others [the exec timeout, at least 30 s]. */
  collectorTimeoutMs?: number;
}

/** The Envoy admin endpoints dumped for each proxy, read through `pilot-agent request GET`. */
export const ENVOY_DUMPS = [
  { file: 'config_dump.json', path: 'config_dump' },
  { file: 'clusters.txt', path: 'clusters' },
  { file: 'listeners.txt', path: 'listeners' },
  // Envoy's admin API has no `routes` endpoint; the route tables are this part of config_dump.
  { file: 'routes.json', path: 'config_dump?resource=dynamic_route_configs' },
  { file: 'stats.txt', path: 'stats' },
  // The workload certificate's SANs: what the B2 troubleshooting step of the task checks.
  { file: 'certs.json', path: 'certs' },
] as const;

const DEFAULT_WINDOW_MS = 10 * 60_000;
const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
/** The log API has second resolution: ask a little earlier than the window starts. */
const LOG_MARGIN_MS = 2000;
/** Collectors running at once: enough to be quick, few enough not to flood the API server. */
const CONCURRENCY = 4;

interface Collector {
  what: string;
  run: () => Promise<void>;
}

/**
 * Collects the diagnostics of a failed test into
 * `<reports>/diagnostics/<suite>/<variant>-<test>/`; returns the files written, relative
 * to the reports folder, `index.txt` first.
 */
export async function collectDiagnostics(
  env: DiagnosticsSubject,
  testName: string,
  options: DiagnosticsOptions = {},
): Promise<string[]> {
  const {
    since = new Date(Date.now() - DEFAULT_WINDOW_MS),
    maxFileBytes = DEFAULT_MAX_FILE_BYTES,
    collectorTimeoutMs = Math.max(env.run.timeouts.exec, 30_000),
  } = options;
  const { reportsDir, target } = env.run;
  const folder = path.posix.join(
    'diagnostics',
    slug(env.suite),
    slug(`${env.variantName}-${testName}`),
  );
  await mkdir(path.join(reportsDir, folder), { recursive: true });
  const known = await secretsFromKubeconfig(target.kubeconfigPath);
  const files: string[] = [];
  const sizes = new Map<string, number>();
  const problems: string[] = [];
  const notes: string[] = [];

  const write = async (relative: string, text: string): Promise<void> => {
    const file = path.posix.join(folder, relative);
    const content = sanitize(text, { known, maxBytes: maxFileBytes });
    await mkdir(path.dirname(path.join(reportsDir, file)), { recursive: true });
    await writeFile(path.join(reportsDir, file), content);
    files.push(file);
    sizes.set(file, Buffer.byteLength(content));
  };
  const attempt = async (collector: Collector): Promise<void> => {
    try {
      await withDeadline(collector.run(), {
        what: collector.what,
        timeoutMs: collectorTimeoutMs,
      });
    } catch (error) {
      problems.push(`${collector.what}: ${errorText(error)}`);
    }
  };

  const gateway = env.gateway;
  const namespaces = [...env.createdNamespaces];
  const discovered: { gateway?: V1Pod[]; byNamespace: Map<string, V1Pod[]> } = {
    byNamespace: new Map(),
  };
  await runAll(
    [
      {
        what: `listing the gateway pods (${gateway.namespace}, ${gateway.selector.key}=${gateway.selector.value})`,
        run: async () => {
          discovered.gateway = await listPods(
            env.kube,
            gateway.namespace,
            `${gateway.selector.key}=${gateway.selector.value}`,
          );
        },
      },
      ...namespaces.map((namespace) => ({
        what: `listing the pods of ${namespace}`,
        run: async () => {
          const list = await env.kube.core.listNamespacedPod({ namespace });
          discovered.byNamespace.set(namespace, list.items);
        },
      })),
    ],
    attempt,
  );

  const proxyCollectors = (pod: V1Pod, base: string): Collector[] => {
    const namespace = pod.metadata?.namespace ?? '';
    const name = pod.metadata?.name ?? '';
    if (!hasProxy(pod)) return [];
    const where = `${namespace}/${name}`;
    return [
      {
        what: `istio-proxy log of ${where}`,
        run: async () => {
          const log = await readContainerLog(env.kube, {
            namespace,
            pod: name,
            container: PROXY_CONTAINER,
            since: new Date(since.getTime() - LOG_MARGIN_MS),
          });
          await write(`${base}/istio-proxy.log`, log);
        },
      },
      ...ENVOY_DUMPS.map((dump) => ({
        what: `pilot-agent request GET ${dump.path} in ${where}`,
        run: async () => {
          const output = await execInPod(env.kube, {
            namespace,
            pod: name,
            container: PROXY_CONTAINER,
            command: pilotAgentRequest(dump.path),
            timeoutMs: env.run.timeouts.exec,
          });
          if (output.exitCode !== 0) {
            throw new Error(`exited ${output.exitCode}: ${output.stderr.trim().slice(0, 500)}`);
          }
          await write(`${base}/${dump.file}`, output.stdout);
        },
      })),
    ];
  };

  const collectors: Collector[] = [];
  const gatewayPods = discovered.gateway;
  if (gatewayPods) {
    collectors.push({
      what: 'the gateway pods',
      run: () => write('gateway/pods.yaml', podsYaml(gatewayPods)),
    });
    for (const pod of gatewayPods)
      collectors.push(...proxyCollectors(pod, `gateway/${pod.metadata?.name ?? 'pod'}`));
  }
  collectors.push({
    what: `events of the gateway pods in ${gateway.namespace}`,
    run: async () => {
      const names = new Set((gatewayPods ?? []).map((pod) => pod.metadata?.name));
      const events = (await listEvents(env, gateway.namespace, since)).filter(
        (event) =>
          names.has(event.involvedObject.name) ||
          (event.involvedObject.name ?? '').startsWith(gateway.serviceName),
      );
      await write('gateway/events.txt', eventsText(events));
    },
  });
  for (const namespace of namespaces) {
    const pods = discovered.byNamespace.get(namespace);
    if (pods) {
      collectors.push({
        what: `the pods of ${namespace}`,
        run: () => write(`namespaces/${namespace}/pods.yaml`, podsYaml(pods)),
      });
      for (const pod of pods) {
        collectors.push(
          ...proxyCollectors(pod, `clients/${namespace}/${pod.metadata?.name ?? 'pod'}`),
        );
      }
    }
    collectors.push({
      what: `events of ${namespace}`,
      run: async () =>
        write(`namespaces/${namespace}/events.txt`, eventsText(await listEvents(env, namespace))),
    });
  }
  collectors.push({
    what: 'the applied objects',
    run: () => write('applied-objects.yaml', objectsYaml(env.applied)),
  });

  const istioctl =
    options.istioctl === undefined
      ? target.simulated
        ? undefined
        : await findOnPath('istioctl')
      : (options.istioctl ?? undefined);
  if (!istioctl) {
    notes.push(
      options.istioctl === null
        ? 'istioctl analyze: skipped (turned off)'
        : target.simulated
          ? 'istioctl analyze: skipped (simulated cluster: istioctl would analyse the model, not Istio)'
          : 'istioctl analyze: skipped (no istioctl on PATH)',
    );
  } else {
    for (const namespace of namespaces) {
      collectors.push({
        what: `istioctl analyze -n ${namespace}`,
        run: async () =>
          write(
            `namespaces/${namespace}/istioctl-analyze.txt`,
            await istioctlAnalyze(istioctl, env, namespace, collectorTimeoutMs),
          ),
      });
    }
  }

  await runAll(collectors, attempt);

  const index = path.posix.join(folder, 'index.txt');
  await writeFile(
    path.join(reportsDir, index),
    sanitize(
      indexText({ env, testName, since, files, sizes, maxFileBytes, problems, notes, folder }),
      { known, maxBytes: maxFileBytes },
    ),
  );
  return [index, ...files.sort()];
}

async function runAll(
  collectors: readonly Collector[],
  attempt: (collector: Collector) => Promise<void>,
): Promise<void> {
  const queue = [...collectors];
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next; next = queue.shift()) await attempt(next);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, queue.length) }, worker));
}

async function listEvents(
  env: DiagnosticsSubject,
  namespace: string,
  since?: Date,
): Promise<CoreV1Event[]> {
  const list = await env.kube.core.listNamespacedEvent({ namespace });
  const events = list.items.filter(
    (event) => !since || (eventTime(event)?.getTime() ?? Infinity) >= since.getTime(),
  );
  return events.sort((a, b) => (eventTime(a)?.getTime() ?? 0) - (eventTime(b)?.getTime() ?? 0));
}

function eventTime(event: CoreV1Event): Date | undefined {
  const value = event.lastTimestamp ?? event.eventTime ?? event.firstTimestamp;
  return value ? new Date(value) : undefined;
}

/** Events as `kubectl get events` shows them, oldest first. */
function eventsText(events: readonly CoreV1Event[]): string {
  if (events.length === 0) return '(no events)\n';
  const rows = events.map((event) => [
    eventTime(event)?.toISOString() ?? '-',
    event.type ?? '-',
    event.reason ?? '-',
    `${event.involvedObject.kind ?? ''}/${event.involvedObject.name ?? ''}`,
    event.count && event.count > 1 ? `(x${event.count}) ` : '',
    (event.message ?? '').replace(/\n/g, ' '),
  ]);
  return `${rows.map(([time, type, reason, object, count, message]) => `${time}  ${type}  ${reason}  ${object}  ${count}${message}`).join('\n')}\n`;
}

function podsYaml(pods: readonly V1Pod[]): string {
  if (pods.length === 0) return '# no pods\n';
  return objectsYaml(pods);
}

/** Objects as multi-document YAML without managedFields (as `kubectl get -o yaml` shows them). */
function objectsYaml(objects: readonly KubernetesObject[]): string {
  if (objects.length === 0) return '# none\n';
  return objects
    .map((object) => {
      const plain = JSON.parse(JSON.stringify(object)) as KubernetesObject;
      if (plain.metadata) delete plain.metadata.managedFields;
      return stringify(plain, { lineWidth: 0 });
    })
    .join('---\n');
}

async function istioctlAnalyze(
  istioctl: string,
  env: DiagnosticsSubject,
  namespace: string,
  timeoutMs: number,
): Promise<string> {
  const { execa } = await import('execa');
  const args = [
    'analyze',
    '-n',
    namespace,
    '--kubeconfig',
    env.run.target.kubeconfigPath,
    ...(env.run.target.context ? ['--context', env.run.target.context] : []),
  ];
  const result = await execa(istioctl, args, { reject: false, all: true, timeout: timeoutMs });
  if (result.timedOut) throw new Error(`timed out after ${timeoutMs} ms`);
  if (result.failed && result.exitCode === undefined) throw new Error(result.message);
  // analyze exits non-zero when it finds problems: that output is the point.
  return `$ ${[istioctl, ...args].join(' ')}\n# exit code ${result.exitCode}\n${result.all}\n`;
}

async function findOnPath(binary: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
    const candidate = path.join(dir, binary);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function indexText({
  env,
  testName,
  since,
  files,
  sizes,
  maxFileBytes,
  problems,
  notes,
  folder,
}: {
  env: DiagnosticsSubject;
  testName: string;
  since: Date;
  files: readonly string[];
  sizes: ReadonlyMap<string, number>;
  maxFileBytes: number;
  problems: readonly string[];
  notes: readonly string[];
  folder: string;
}): string {
  const target = env.run.target;
  const lines = [
    `Diagnostics of a failed test`,
    `test:      ${testName}`,
    `suite:     ${env.suite} [${env.variantName}]`,
    `run:       ${env.run.runId}`,
    `cluster:   ${target.kind}${target.simulated ? ' (SIMULATED: a model, not a real mesh)' : ''}, Istio ${target.istio.version}, Kubernetes ${target.kubernetesVersion}`,
    `window:    logs and gateway events since ${since.toISOString()}; collected at ${new Date().toISOString()}`,
    `namespaces: ${env.createdNamespaces.join(', ') || '(none created)'}`,
    `Every file is redacted (tokens, private keys) and cut to ${maxFileBytes} bytes, keeping head and tail.`,
    '',
    'Files:',
    ...(files.length > 0
      ? [...files]
          .sort()
          .map((file) => `  ${path.posix.relative(folder, file)}  (${sizes.get(file) ?? 0} bytes)`)
      : ['  (none)']),
  ];
  if (problems.length > 0) lines.push('', 'Not collected:', ...problems.map((line) => `  ${line}`));
  if (notes.length > 0) lines.push('', 'Notes:', ...notes.map((line) => `  ${line}`));
  return `${lines.join('\n')}\n`;
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 80);
}
