/**
 * The long-running processes of pods: each container whose command is `curl --rate R …
 * URL[a-b]` (the disruption probes of an upgrade run) sends its transfers one after the
 * other, no faster than R, each through the mesh model as an exec of one transfer would, and
 * writes what curl prints to the container's log. The transfers of one loop share a
 * connection cache, as one curl process's do (mesh/curl-connections.ts): a TLS connection
 * stays pinned to its gateway pod until that pod is gone and its drain has passed
 * (GATEWAY_TERMINATION_DRAIN). Everything comes from the stored pod: its command, its
 * environment (`$(VAR)` expansion, ARGUMENT_EXPANSION) and whether it runs.
 */
import { ARGUMENT_EXPANSION } from '../harness/facts/upgrade.ts';
import { GATEWAY_TERMINATION_DRAIN } from '../harness/facts/long-lived-connections.ts';
import { CurlConnections, type GatewayRuns } from './mesh/curl-connections.ts';
import { asArray, asRecord } from './json.ts';
import type { ObjectStore } from './store.ts';
import type { ExecHandler, KubeObject } from './types.ts';

/** A container that runs a rate-limited curl over a numeric URL glob. */
export interface CurlLoop {
  container: string;
  /** The arguments without `--rate` and the URL. */
  args: string[];
  /** The URL with `{{n}}` where the glob's number goes. */
  url: { before: string; after: string; first: number; last: number };
  intervalMs: number;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `$(VAR)` from the container's env (literal values and `metadata.*` field refs). */
function expand(text: string, pod: KubeObject, env: Record<string, unknown>[]): string {
  return text.replace(ARGUMENT_EXPANSION.pattern, (whole, name: string) => {
    const entry = env.find((candidate) => candidate.name === name);
    if (!entry) return whole;
    if (typeof entry.value === 'string') return entry.value;
    const fieldPath = asRecord(asRecord(entry.valueFrom).fieldRef).fieldPath;
    const path = typeof fieldPath === 'string' ? fieldPath : '';
    if (path === 'metadata.name') return pod.metadata.name;
    if (path === 'metadata.namespace') return pod.metadata.namespace ?? 'default';
    return whole;
  });
}

/** The curl loop a pod's first looping container runs, if any. */
export function curlLoopOf(pod: KubeObject): CurlLoop | undefined {
  return curlLoopsOf(pod)[0];
}

/** The curl loops of a pod's containers, one per container that runs one. */
export function curlLoopsOf(pod: KubeObject): CurlLoop[] {
  const loops: CurlLoop[] = [];
  for (const container of asArray(asRecord(pod.spec).containers)) {
    const strings = (value: unknown): string[] =>
      Array.isArray(value) ? value.filter((part) => typeof part === 'string') : [];
    const argv = [...strings(container.command), ...strings(container.args)].map((part) =>
      expand(part, pod, asArray(container.env)),
    );
    if (argv[0] !== 'curl') continue;
    const rateAt = argv.indexOf('--rate');
    const rate = /^(\d+)(?:\/([smhd]))?$/.exec(argv[rateAt + 1] ?? '');
    if (rateAt < 0 || !rate) continue;
    const rest = argv.slice(1).filter((_, index) => index !== rateAt - 1 && index !== rateAt);
    const urlAt = rest.findIndex((part) => /^https?:\/\/.*\[\d+-\d+\]/.test(part));
    const glob = /^(.*)\[(\d+)-(\d+)\](.*)$/.exec(rest[urlAt] ?? '');
    if (!glob) continue;
    loops.push({
      container: String(container.name),
      args: rest.filter((_, index) => index !== urlAt),
      url: {
        before: glob[1] ?? '',
        after: glob[4] ?? '',
        first: Number(glob[2]),
        last: Number(glob[3]),
      },
      // curl's default unit is per hour.
      intervalMs: (UNIT_MS[rate[2] ?? 'h'] ?? 3_600_000) / Math.max(1, Number(rate[1])),
    });
  }
  return loops;
}

function running(pod: KubeObject | undefined): boolean {
  return (
    pod !== undefined &&
    pod.metadata.deletionTimestamp === undefined &&
    asRecord(pod.status).phase === 'Running'
  );
}

/** How long a deleted gateway pod's Envoy keeps relaying the connections it has. */
export interface ProcessOptions {
  terminationDrainMs?: number;
}

/** Starts the process runner on `store`; the returned function stops every loop. */
export function startProcesses(
  store: ObjectStore,
  execHandler: ExecHandler,
  { terminationDrainMs = GATEWAY_TERMINATION_DRAIN.terminationDrainMs }: ProcessOptions = {},
): () => void {
  const loops = new Map<string, AbortController>();
  // When each pod went: a gateway pod's Envoy drains its connections for terminationDrainMs more.
  const deletedAt = new Map<string, number>();
  const gatewayRuns: GatewayRuns = ({ uid, namespace, name }) => {
    const pod = store.get('Pod', namespace, name);
    if (pod?.metadata.uid === uid && pod.metadata.deletionTimestamp === undefined) return true;
    const gone = deletedAt.get(uid);
    return gone !== undefined && store.now() < gone + terminationDrainMs;
  };
  const start = (pod: KubeObject, loop: CurlLoop, key: string): void => {
    const namespace = pod.metadata.namespace ?? 'default';
    const control = new AbortController();
    loops.set(key, control);
    const connections = new CurlConnections(gatewayRuns);
    const step = async (n: number): Promise<void> => {
      const current = store.get('Pod', namespace, pod.metadata.name);
      if (
        control.signal.aborted ||
        current === undefined ||
        !running(current) ||
        current.metadata.uid !== pod.metadata.uid
      )
        return;
      const startedAt = Date.now();
      const result = await execHandler.exec({
        namespace,
        pod: current,
        container: loop.container,
        command: ['curl', ...loop.args, `${loop.url.before}${n}${loop.url.after}`],
        signal: control.signal,
        connections,
      });
      if (control.signal.aborted) return;
      const at = new Date(store.now());
      for (const line of `${result.stdout}${result.stderr}`.split('\n')) {
        if (line.trim() !== '')
          store.logs.append(namespace, pod.metadata.name, loop.container, line, at);
      }
      if (n >= loop.url.last) return;
      const wait = Math.max(0, loop.intervalMs - (Date.now() - startedAt));
      setTimeout(() => void step(n + 1).catch(() => {}), wait).unref();
    };
    void step(loop.url.first).catch(() => {});
  };
  const unsubscribe = store.watch((event) => {
    if (event.object.kind !== 'Pod') return;
    const uid = event.object.metadata.uid ?? event.object.metadata.name;
    const mine = [...loops.keys()].filter((key) => key.startsWith(`${uid}/`));
    if (event.type === 'DELETED' || !running(event.object)) {
      if (event.type === 'DELETED') {
        const now = store.now();
        deletedAt.set(uid, now);
        for (const [key, at] of deletedAt) if (at + terminationDrainMs < now) deletedAt.delete(key);
      }
      for (const key of mine) {
        loops.get(key)?.abort();
        loops.delete(key);
      }
      return;
    }
    if (mine.length > 0) return;
    for (const loop of curlLoopsOf(event.object))
      start(event.object, loop, `${uid}/${loop.container}`);
  });
  return () => {
    unsubscribe();
    for (const control of loops.values()) control.abort();
    loops.clear();
  };
}
