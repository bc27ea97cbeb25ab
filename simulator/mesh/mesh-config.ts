/**
 * Istio's mesh config as the proxies see it: the `mesh` key of their control plane's
 * ConfigMap (`istio` in `istio-system`, `istio-<rev>` for a revision), plus the per-pod `proxy.istio.io/config` annotation for the proxy
 * settings it may override. Its access-logging part is read with the harness's
 * `readMeshAccessLogConfig`, so the simulated proxies pick their loggers by the same
 * upstream facts (`harness/facts.ts`) the harness's detection applies.
 */
import { memoized } from '../../harness/memo.ts';
import { parse } from 'yaml';
import { CONTAINER_LOG_PATHS, ISTIO_ACCESS_LOGGING, PROXY_CONTAINER } from '../../harness/facts.ts';
import { INJECTION } from '../../harness/facts/injection.ts';
import {
  ISTIO_CONTROL_PLANE,
  meshConfigMapName,
  WORKLOAD_IDENTITY,
} from '../../harness/facts/istio-install.ts';
import {
  type MeshAccessLogConfig,
  readMeshAccessLogConfig,
} from '../../harness/istio/access-log-settings.ts';
import type { ClusterView, KubeObject } from '../types.ts';
import {
  annotationsOf,
  array,
  containerNamed,
  labelsOf,
  namespaceOf,
  record,
  strings,
  text,
} from './k8s.ts';

export const ISTIO_NAMESPACE = ISTIO_CONTROL_PLANE.defaultNamespace;

/** Envoy's stats matcher: a stat is kept if any entry matches its name. */
export interface StatsMatcher {
  prefixes: string[];
  suffixes: string[];
  regexps: string[];
}

/** The mesh-wide settings the data plane behaviour depends on. */
export interface MeshConfig {
  /** Where proxies write access logs; only `/dev/stdout` and `/dev/stderr` reach container logs. */
  accessLogFile: string;
  accessLogEncoding: 'TEXT' | 'JSON';
  /** A custom TEXT format (or JSON keys, with JSON encoding), if the mesh config sets one. */
  accessLogFormat: string | undefined;
  /** Everything that decides the proxies' access loggers: the fields above and the providers. */
  accessLogging: MeshAccessLogConfig;
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  trustDomain: string;
  rootNamespace: string;
  statsMatcher: StatsMatcher;
}

/**
 * Parsed mesh configs, kept by their source text: every request through the mesh model reads
 * the mesh config of the proxies on its path, and parsing the same ConfigMap text each time
 * was a tenth of a simulated cluster's CPU. The parsed documents are only read, never changed;
 * a cluster holds one mesh config per revision, a run a handful.
 */
const parsedYaml = memoized((source: string): Record<string, unknown> => {
  try {
    return record(parse(source));
  } catch {
    // istiod rejects a broken mesh config and keeps the previous one; defaults are the closest.
    return {};
  }
}, 32);

function parseYaml(source: string | undefined): Record<string, unknown> {
  return source ? parsedYaml(source) : {};
}

function statsMatcherFrom(proxyConfig: Record<string, unknown>): StatsMatcher {
  const matcher = record(proxyConfig.proxyStatsMatcher);
  return {
    prefixes: strings(matcher.inclusionPrefixes),
    suffixes: strings(matcher.inclusionSuffixes),
    regexps: strings(matcher.inclusionRegexps),
  };
}

/** `host:port` split; undefined when it is not that. */
export function parseAddress(
  value: string | undefined,
): { host: string; port: number } | undefined {
  const match = /^([^:]+):(\d+)$/.exec(value ?? '');
  return match ? { host: match[1] ?? '', port: Number(match[2]) } : undefined;
}

/** The istiod a proxy talks to: the host and port of its `CA_ADDR` (Istio's injection template). */
export function istiodAddressOf(pod: KubeObject): { host: string; port: number } | undefined {
  const env = array(containerNamed(pod, PROXY_CONTAINER)?.env).map(record);
  return parseAddress(text(env.find((entry) => entry.name === 'CA_ADDR')?.value));
}

/**
 * The control plane whose mesh config applies to `pod`: its own revision (the
 * `istio.io/rev` annotation the injector and the gateway chart write) in the namespace of
 * its istiod; for a pod without a proxy, the default revision if installed, else the one
 * that is.
 */
export function controlPlaneOf(
  view: ClusterView,
  pod: KubeObject | undefined,
): { revision: string; namespace: string } {
  const revision = pod ? annotationsOf(pod)[INJECTION.revisionLabel] : undefined;
  if (pod && revision) {
    const host = istiodAddressOf(pod)?.host.split('.');
    return { revision, namespace: host?.[1] ?? ISTIO_NAMESPACE };
  }
  const { appLabel, revisionLabel } = ISTIO_CONTROL_PLANE;
  const istiods = view
    .list('Deployment')
    .filter((deployment) => labelsOf(deployment)[appLabel.key] === appLabel.value);
  const revisionOf = (deployment: KubeObject): string =>
    labelsOf(deployment)[revisionLabel] ?? INJECTION.defaultRevision;
  const chosen =
    istiods.find((deployment) => revisionOf(deployment) === INJECTION.defaultRevision) ??
    istiods[0];
  return chosen
    ? { revision: revisionOf(chosen), namespace: namespaceOf(chosen) }
    : { revision: INJECTION.defaultRevision, namespace: ISTIO_NAMESPACE };
}

/**
 * Reads the mesh config of `pod`'s control plane (see {@link controlPlaneOf}) from the view,
 * with Istio's defaults for what it leaves out.
 */
export function readMeshConfig(view: ClusterView, pod?: KubeObject): MeshConfig {
  const plane = controlPlaneOf(view, pod);
  const configMap = view.get('ConfigMap', plane.namespace, meshConfigMapName(plane.revision));
  const mesh = parseYaml(configMap?.data?.mesh);
  const encoding = text(mesh.accessLogEncoding);
  const policy = text(record(mesh.outboundTrafficPolicy).mode);
  return {
    accessLogFile: text(mesh.accessLogFile) ?? '',
    accessLogEncoding: encoding === 'JSON' ? 'JSON' : 'TEXT',
    accessLogFormat: text(mesh.accessLogFormat) || undefined,
    accessLogging: readMeshAccessLogConfig(mesh),
    outboundTrafficPolicy: policy === 'REGISTRY_ONLY' ? 'REGISTRY_ONLY' : 'ALLOW_ANY',
    trustDomain: text(mesh.trustDomain) || WORKLOAD_IDENTITY.defaultTrustDomain,
    rootNamespace: text(mesh.rootNamespace) || ISTIO_ACCESS_LOGGING.rootNamespaceDefault,
    statsMatcher: statsMatcherFrom(record(mesh.defaultConfig)),
  };
}

/** The stats matcher of one proxy: the mesh default plus the pod's `proxy.istio.io/config`. */
export function proxyStatsMatcher(mesh: MeshConfig, pod: KubeObject): StatsMatcher {
  const annotation = parseYaml(annotationsOf(pod)['proxy.istio.io/config']);
  const own = statsMatcherFrom(annotation);
  return {
    prefixes: [...mesh.statsMatcher.prefixes, ...own.prefixes],
    suffixes: [...mesh.statsMatcher.suffixes, ...own.suffixes],
    regexps: [...mesh.statsMatcher.regexps, ...own.regexps],
  };
}

/** True when the mesh config's `accessLogFile` is one the container runtime collects. */
export function accessLogReachesContainerLog(mesh: MeshConfig): boolean {
  return CONTAINER_LOG_PATHS.includes(mesh.accessLogFile);
}
