/**
 * Typed reads of the untyped stored objects (pods, services, namespaces, Istio kinds):
 * every field the mesh model looks at goes through these helpers, so a malformed
 * object degrades to "absent" instead of throwing inside an exec.
 */
import { matchesLabelSelectorObject } from '../store.ts';
import { createHash } from 'node:crypto';
import type { ClusterView, KubeObject } from '../types.ts';
import { hasProxy, NATIVE_SIDECARS, PROXY_CONTAINER } from '../../harness/facts.ts';

export type Labels = Record<string, string>;

/** The value as a plain object, or an empty one. */
export function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** The value as an array, or an empty one. */
export function array(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

/** The value if it is a string. */
export function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The value as an integer, accepting numeric strings as YAML authors write them. */
export function integer(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  return undefined;
}

/** The string entries of a list. */
export function strings(value: unknown): string[] {
  return array(value).filter((item): item is string => typeof item === 'string');
}

/** The string-valued entries of a map (labels, selectors). */
export function stringMap(value: unknown): Labels {
  const out: Labels = {};
  for (const [key, item] of Object.entries(record(value))) {
    if (typeof item === 'string') out[key] = item;
    else if (typeof item === 'number' || typeof item === 'boolean') out[key] = String(item);
  }
  return out;
}

export function spec(obj: KubeObject | undefined): Record<string, unknown> {
  return record(obj?.spec);
}

export function labelsOf(obj: KubeObject | undefined): Labels {
  return stringMap(obj?.metadata.labels);
}

export function annotationsOf(obj: KubeObject | undefined): Labels {
  return stringMap(obj?.metadata.annotations);
}

export function namespaceOf(obj: KubeObject): string {
  return obj.metadata.namespace ?? 'default';
}

/** `ns/name`, the key the model uses for per-object state. */
export function keyOf(obj: KubeObject): string {
  return `${namespaceOf(obj)}/${obj.metadata.name}`;
}

/** True when every `key: value` of a plain map selector is in `labels` (an empty map selects all). */
export function mapSelects(selector: Labels, labels: Labels): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/**
 * Evaluates a Kubernetes `LabelSelector` (`matchLabels` and `matchExpressions`); an
 * empty selector selects everything, as in NetworkPolicy `podSelector: {}`.
 */
export function labelSelectorMatches(selector: unknown, labels: Labels): boolean {
  // Config reaches the model unvalidated: normalise it, then use the store's evaluator.
  const sel = record(selector);
  return matchesLabelSelectorObject(
    {
      matchLabels: stringMap(sel.matchLabels),
      matchExpressions: array(sel.matchExpressions).map((raw) => {
        const expression = record(raw);
        return {
          key: text(expression.key) ?? '',
          operator: text(expression.operator) ?? '',
          values: strings(expression.values),
        };
      }),
    },
    labels,
  );
}

/** A stable pseudo-random byte from a string, for addresses the store did not assign. */
function hashBytes(input: string): Buffer {
  return createHash('sha256').update(input).digest();
}

/** The pod's IP: `status.podIP`, else a stable address in kind's default pod range. */
export function podIp(pod: KubeObject): string {
  const assigned = text(record(pod.status).podIP);
  if (assigned) return assigned;
  const bytes = hashBytes(keyOf(pod));
  return `10.244.${(bytes[0] ?? 0) % 8}.${((bytes[1] ?? 0) % 250) + 2}`;
}

/** The Service's ClusterIP: `spec.clusterIP`, else a stable address in kind's service range. */
export function serviceIp(service: KubeObject): string | undefined {
  const assigned = text(spec(service).clusterIP);
  if (assigned === 'None') return undefined;
  if (assigned) return assigned;
  const bytes = hashBytes(keyOf(service));
  return `10.96.${(bytes[0] ?? 0) % 255}.${((bytes[1] ?? 0) % 250) + 2}`;
}

export function containers(pod: KubeObject): Record<string, unknown>[] {
  return array(spec(pod).containers).map(record);
}

/**
 * A container that runs for the pod's lifetime: a regular one, or a restartable init
 * container (a native sidecar, see NATIVE_SIDECARS in harness/facts.ts).
 */
export function containerNamed(pod: KubeObject, name: string): Record<string, unknown> | undefined {
  return (
    containers(pod).find((container) => container.name === name) ??
    array(spec(pod).initContainers)
      .map(record)
      .find(
        (container) =>
          container.name === name && container.restartPolicy === NATIVE_SIDECARS.restartPolicy,
      )
  );
}

/** A pod has a sidecar (or is a proxy itself) iff it runs Istio's proxy, in either layout. */
export function hasIstioProxy(pod: KubeObject): boolean {
  return hasProxy(pod);
}

/**
 * A gateway pod is a standalone proxy: `istio-proxy` is its only container, or the
 * proxy runs in `router` mode, or it carries Istio's gateway label (`istio=*gateway`).
 */
export function isGatewayPod(pod: KubeObject): boolean {
  const proxy = containerNamed(pod, PROXY_CONTAINER);
  if (!proxy) return false;
  if (strings(proxy.args).includes('router')) return true;
  // Only when the proxy itself is that one container: a pod with a native sidecar has its
  // application as the only regular container.
  const regular = containers(pod);
  if (regular.length === 1 && regular[0]?.name === PROXY_CONTAINER) return true;
  return /gateway$/.test(labelsOf(pod).istio ?? '');
}

/** A pod that is not Ready is no endpoint: Envoy and kube-proxy skip it. */
export function isReady(pod: KubeObject): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  const status = record(pod.status);
  const phase = text(status.phase);
  if (phase === 'Failed' || phase === 'Succeeded' || phase === 'Pending') return false;
  const ready = array(status.conditions)
    .map(record)
    .find((condition) => condition.type === 'Ready');
  return ready ? ready.status === 'True' : true;
}

/** Labels of a namespace as NetworkPolicy sees them, including the automatic name label. */
export function namespaceLabels(view: ClusterView, namespace: string): Labels {
  const ns = view.get('Namespace', undefined, namespace);
  return { ...labelsOf(ns), 'kubernetes.io/metadata.name': namespace };
}

/** Istio kinds share names with Gateway API kinds (`Gateway`): keep only `networking.istio.io`. */
export function istioObjects(view: ClusterView, kind: string, namespace?: string): KubeObject[] {
  return view
    .list(kind, namespace)
    .filter((obj) => obj.apiVersion.startsWith('networking.istio.io/'))
    .sort(byAge);
}

/** Oldest first, then by namespace/name: Istio resolves conflicts in favour of the oldest. */
export function byAge(a: KubeObject, b: KubeObject): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0;
}

/** True when `ip` is inside `cidr` (IPv4 only; IPv6 blocks never match). */
export function ipInCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const a = ipv4ToInt(ip);
  const b = base === undefined ? undefined : ipv4ToInt(base);
  if (a === undefined || b === undefined || !(bits >= 0 && bits <= 32)) return false;
  if (bits === 0) return true;
  const mask = bits === 32 ? 0xffffffff : (~((1 << (32 - bits)) - 1) >>> 0) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

export function ipv4ToInt(ip: string): number | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value >>> 0;
}

export function isIpLiteral(host: string): boolean {
  return ipv4ToInt(host) !== undefined || host.includes(':');
}

/** The workload name Istio reports for a pod: the Deployment's for ReplicaSet pods. */
export function workloadName(pod: KubeObject): string {
  const owner = pod.metadata.ownerReferences?.[0];
  if (owner?.kind === 'ReplicaSet') return owner.name.replace(/-[a-z0-9]+$/, '');
  if (owner) return owner.name;
  return pod.metadata.name.replace(/-[a-z0-9]{6,10}-[a-z0-9]{5}$/, '');
}

/** The canonical service name Istio derives from the pod's labels. */
export function canonicalService(pod: KubeObject): string {
  const labels = labelsOf(pod);
  return (
    labels['service.istio.io/canonical-name'] ??
    labels['app.kubernetes.io/name'] ??
    labels.app ??
    workloadName(pod)
  );
}

export function serviceAccountOf(pod: KubeObject): string {
  return text(spec(pod).serviceAccountName) ?? 'default';
}

/** The image tag of a container, e.g. `8.11.1` for `curlimages/curl:8.11.1`. */
export function imageTag(container: Record<string, unknown> | undefined): string | undefined {
  const image = text(container?.image);
  if (!image) return undefined;
  const withoutDigest = image.split('@')[0] ?? image;
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  return colon > slash ? withoutDigest.slice(colon + 1) : undefined;
}
