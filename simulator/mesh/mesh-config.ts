/**
 * Istio's mesh config as the proxies see it: the `mesh` key of ConfigMap `istio` in
 * `istio-system`, plus the per-pod `proxy.istio.io/config` annotation for the proxy
 * settings it may override. Its access-logging part is read with the harness's
 * `readMeshAccessLogConfig`, so the simulated proxies pick their loggers by the same
 * upstream facts (`harness/facts.ts`) the harness's detection applies.
 */
import { parse } from 'yaml';
import { CONTAINER_LOG_PATHS, ISTIO_ACCESS_LOGGING } from '../../harness/facts.ts';
import {
  type MeshAccessLogConfig,
  readMeshAccessLogConfig,
} from '../../harness/istio/access-log-settings.ts';
import type { ClusterView, KubeObject } from '../types.ts';
import { annotationsOf, record, strings, text } from './k8s.ts';

export const ISTIO_NAMESPACE = 'istio-system';

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

function parseYaml(source: string | undefined): Record<string, unknown> {
  if (!source) return {};
  try {
    return record(parse(source));
  } catch {
    // istiod rejects a broken mesh config and keeps the previous one; defaults are the closest.
    return {};
  }
}

function statsMatcherFrom(proxyConfig: Record<string, unknown>): StatsMatcher {
  const matcher = record(proxyConfig.proxyStatsMatcher);
  return {
    prefixes: strings(matcher.inclusionPrefixes),
    suffixes: strings(matcher.inclusionSuffixes),
    regexps: strings(matcher.inclusionRegexps),
  };
}

/** Reads the mesh config from the view, with Istio's defaults for what it leaves out. */
export function readMeshConfig(view: ClusterView): MeshConfig {
  const configMap = view.get('ConfigMap', ISTIO_NAMESPACE, 'istio');
  const mesh = parseYaml(configMap?.data?.mesh);
  const encoding = text(mesh.accessLogEncoding);
  const policy = text(record(mesh.outboundTrafficPolicy).mode);
  return {
    accessLogFile: text(mesh.accessLogFile) ?? '',
    accessLogEncoding: encoding === 'JSON' ? 'JSON' : 'TEXT',
    accessLogFormat: text(mesh.accessLogFormat) || undefined,
    accessLogging: readMeshAccessLogConfig(mesh),
    outboundTrafficPolicy: policy === 'REGISTRY_ONLY' ? 'REGISTRY_ONLY' : 'ALLOW_ANY',
    trustDomain: text(mesh.trustDomain) ?? 'cluster.local',
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
