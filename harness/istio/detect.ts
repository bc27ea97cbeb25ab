/**
 * Reads the Istio installed in a cluster through the Kubernetes API: istiod's version and
 * revision, the egress gateway, and the mesh settings the suites depend on. It only
 * reads; on an existing cluster the harness never installs, upgrades or removes Istio.
 */
import type { V1Deployment, V1Pod, V1Service } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { EnvironmentError } from '../errors.ts';
import { ISTIO_ACCESS_LOGGING } from '../facts.ts';
import { type Kube, apiFailure, errorText, isNotFound } from '../k8s/client.ts';
import type { IstioInstallation } from '../providers/types.ts';
import {
  type AccessLogAssessment,
  type MeshAccessLogConfig,
  type TelemetryResource,
  assessAccessLogs,
  describeAccessLogs,
  readMeshAccessLogConfig,
  resolveAccessLogs,
  unreadableAccessLogError,
} from './access-log-settings.ts';
import { imageVersion, statsMatcherIncludesOutbound } from './readings.ts';
import { WORKLOAD_IDENTITY } from '../facts/istio-install.ts';

// Re-exported for existing importers; they live in readings.ts so that the stand-in istioctl
// can use them without loading client-node.
export { imageVersion, statsMatcherIncludesOutbound } from './readings.ts';

/** The label the default egress gateway's pods carry (Istio's `istio-egress` chart). */
export const DEFAULT_GATEWAY_SELECTOR = Object.freeze({ key: 'istio', value: 'egressgateway' });

/** Options of {@link detectIstio}. */
export interface DetectIstioOptions {
  /** The revision to use when several are installed; `default` is preferred otherwise. */
  revision?: string;
  /** The label that selects the egress gateway pods. */
  gatewaySelector?: { key: string; value: string };
  log?: (message: string) => void;
}

/**
 * Finds istiod, its mesh config and the egress gateway; throws EnvironmentError naming what
 * is missing, and `UnreadableAccessLogError` (an EnvironmentError) when the gateway's access log reaches its
 * container log only in formats the harness cannot parse.
 */
export async function detectIstio(
  kube: Kube,
  { revision, gatewaySelector = DEFAULT_GATEWAY_SELECTOR, log = () => {} }: DetectIstioOptions = {},
): Promise<IstioInstallation> {
  const istiod = await findIstiod(kube, revision);
  const namespace = istiod.metadata?.namespace ?? 'istio-system';
  const rev = istiod.metadata?.labels?.['istio.io/rev'] ?? 'default';
  const image =
    istiod.spec?.template.spec?.containers.find((c) => c.name === 'discovery')?.image ??
    istiod.spec?.template.spec?.containers[0]?.image ??
    '';
  const { settings: mesh, accessLogging, configMap } = await readMeshConfig(kube, namespace, rev);
  const gateway = await findGateway(kube, {
    gatewaySelector,
    istiodNamespace: namespace,
    revision: rev,
    log,
  });
  const accessLog = await detectGatewayAccessLog(kube, {
    mesh: accessLogging,
    gateway: { namespace: gateway.namespace, labels: gateway.labels },
  });
  log(describeAccessLogs(accessLog));
  const unreadable = unreadableAccessLogError(accessLog, {
    mesh: accessLogging,
    meshConfigMap: configMap,
  });
  if (unreadable) throw unreadable;
  const readable = accessLog.readable[0];

  return {
    version: imageVersion(image),
    revision: rev,
    namespace,
    gateway: {
      namespace: gateway.namespace,
      serviceName: gateway.service,
      selector: { ...gatewaySelector },
      serviceAccount: gateway.serviceAccount,
    },
    accessLog: {
      enabled: readable !== undefined,
      encoding: readable?.format.encoding ?? mesh.accessLog.encoding,
    },
    outboundStatsIncluded: mesh.outboundStatsIncluded || gateway.annotationIncludesOutboundStats,
    outboundTrafficPolicy: mesh.outboundTrafficPolicy,
    trustDomain: mesh.trustDomain,
  };
}

/**
 * The mesh settings the suites depend on, as read from the `mesh` key of istiod's ConfigMap.
 * `accessLog` is what the mesh config alone says (`accessLogFile`, `accessLogEncoding`);
 * {@link detectIstio} also weighs `accessLogFormat`, the extension providers and Telemetry.
 */
export interface MeshSettings {
  accessLog: { enabled: boolean; encoding: 'TEXT' | 'JSON' };
  outboundStatsIncluded: boolean;
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  trustDomain: string;
  rootNamespace?: string;
}

/** Parses MeshConfig YAML, applying Istio's defaults for absent fields. */
export function readMeshSettings(meshYaml: string): MeshSettings {
  const mesh = (parse(meshYaml) ?? {}) as {
    accessLogFile?: string;
    accessLogEncoding?: string;
    outboundTrafficPolicy?: { mode?: string };
    trustDomain?: string;
    rootNamespace?: string;
    defaultConfig?: { proxyStatsMatcher?: unknown };
  };
  return {
    accessLog: {
      enabled: typeof mesh.accessLogFile === 'string' && mesh.accessLogFile.trim() !== '',
      encoding: mesh.accessLogEncoding === 'JSON' ? 'JSON' : 'TEXT',
    },
    outboundStatsIncluded: statsMatcherIncludesOutbound(mesh.defaultConfig?.proxyStatsMatcher),
    outboundTrafficPolicy:
      mesh.outboundTrafficPolicy?.mode === 'REGISTRY_ONLY' ? 'REGISTRY_ONLY' : 'ALLOW_ANY',
    trustDomain: mesh.trustDomain || WORKLOAD_IDENTITY.defaultTrustDomain,
    ...(mesh.rootNamespace ? { rootNamespace: mesh.rootNamespace } : {}),
  };
}

async function findIstiod(kube: Kube, revision: string | undefined): Promise<V1Deployment> {
  const deployments = await listOrExplain(
    () => kube.apps.listDeploymentForAllNamespaces({ labelSelector: 'app=istiod' }),
    'deployments labelled app=istiod',
  );
  const revisions = (d: V1Deployment): string => d.metadata?.labels?.['istio.io/rev'] ?? 'default';
  const candidates = deployments.items.filter((d) => !revision || revisions(d) === revision);
  if (candidates.length === 0) {
    const found = deployments.items.map(
      (d) => `${d.metadata?.namespace}/${d.metadata?.name} (revision ${revisions(d)})`,
    );
    throw new EnvironmentError(
      revision
        ? `No istiod of revision ${revision} was found (found: ${found.join(', ') || 'none'}); pass the revision that is installed.`
        : `No istiod deployment (label app=istiod) was found in any namespace of ${kube.server}; install Istio with an egress gateway first, since this run never installs Istio on an existing cluster.`,
    );
  }
  const preferred =
    candidates.find((d) => revisions(d) === 'default') ??
    (candidates.length === 1 ? candidates[0] : undefined);
  if (!preferred) {
    throw new EnvironmentError(
      `Several Istio revisions are installed (${candidates.map(revisions).join(', ')}) and none is "default"; pick one with --istio-revision.`,
    );
  }
  return preferred;
}

async function readMeshConfig(
  kube: Kube,
  namespace: string,
  revision: string,
): Promise<{ settings: MeshSettings; accessLogging: MeshAccessLogConfig; configMap: string }> {
  const name = revision === 'default' ? 'istio' : `istio-${revision}`;
  let data: Record<string, string> | undefined;
  try {
    data = (await kube.core.readNamespacedConfigMap({ namespace, name })).data;
  } catch (error) {
    if (isNotFound(error)) {
      throw new EnvironmentError(
        `istiod runs in ${namespace} but its mesh config ConfigMap ${namespace}/${name} does not exist; check the Istio installation (istioctl verify-install).`,
      );
    }
    throw new EnvironmentError(
      `Cannot read the mesh config ConfigMap ${namespace}/${name} (${errorText(error)}); grant get on configmaps in ${namespace}.`,
      { cause: error },
    );
  }
  const meshYaml = data?.mesh ?? '';
  let parsed: unknown;
  try {
    parsed = parse(meshYaml);
  } catch (error) {
    throw new EnvironmentError(
      `The mesh config in ConfigMap ${namespace}/${name} (key mesh) is not valid YAML (${errorText(error)}); check the Istio installation (istioctl verify-install).`,
      { cause: error },
    );
  }
  return {
    settings: readMeshSettings(meshYaml),
    accessLogging: readMeshAccessLogConfig(parsed),
    configMap: `${namespace}/${name}`,
  };
}

interface FoundGateway {
  namespace: string;
  /** The chosen pod's labels, which Telemetry selectors match. */
  labels: Record<string, string>;
  service: string;
  serviceAccount: string;
  annotationIncludesOutboundStats: boolean;
}

async function findGateway(
  kube: Kube,
  {
    gatewaySelector,
    istiodNamespace,
    revision,
    log,
  }: {
    gatewaySelector: { key: string; value: string };
    istiodNamespace: string;
    revision: string;
    log: (m: string) => void;
  },
): Promise<FoundGateway> {
  const selector = `${gatewaySelector.key}=${gatewaySelector.value}`;
  const pods = (
    await listOrExplain(
      () => kube.core.listPodForAllNamespaces({ labelSelector: selector }),
      `pods labelled ${selector}`,
    )
  ).items.filter((pod) => !pod.metadata?.deletionTimestamp);
  if (pods.length === 0) {
    throw new EnvironmentError(
      `No egress gateway pods labelled ${selector} exist in any namespace of ${kube.server}; enable the egress gateway (IstioOperator components.egressGateways) or name its label with --gateway-label.`,
    );
  }
  // Prefer the gateway beside istiod and of the same revision: that is the one the docs' task uses.
  const rank = (pod: V1Pod): number =>
    (pod.metadata?.namespace === istiodNamespace ? 0 : 2) +
    ((pod.metadata?.labels?.['istio.io/rev'] ?? 'default') === revision ? 0 : 1);
  const chosen = [...pods].sort(
    (a, b) =>
      rank(a) - rank(b) || (a.metadata?.namespace ?? '').localeCompare(b.metadata?.namespace ?? ''),
  )[0]!;
  const namespace = chosen.metadata?.namespace ?? istiodNamespace;
  const otherNamespaces = [...new Set(pods.map((p) => p.metadata?.namespace))].filter(
    (n) => n !== namespace,
  );
  if (otherNamespaces.length > 0) {
    log(
      `egress gateway pods labelled ${selector} also run in ${otherNamespaces.join(', ')}; using the one in ${namespace}`,
    );
  }
  const services = await listOrExplain(
    () => kube.core.listNamespacedService({ namespace }),
    `services in ${namespace}`,
  );
  const service = chooseService(services.items, chosen);
  if (!service) {
    throw new EnvironmentError(
      `The egress gateway pods in ${namespace} (label ${selector}) have no Service selecting them; create the gateway's Service (ClusterIP is enough) and retry.`,
    );
  }
  return {
    namespace,
    labels: { ...(chosen.metadata?.labels ?? {}) },
    service,
    serviceAccount: chosen.spec?.serviceAccountName ?? 'default',
    annotationIncludesOutboundStats: proxyAnnotationIncludesOutbound(chosen),
  };
}

function chooseService(services: V1Service[], pod: V1Pod): string | undefined {
  const labels = pod.metadata?.labels ?? {};
  const selecting = services.filter((service) => {
    const selector = service.spec?.selector ?? {};
    const entries = Object.entries(selector);
    return entries.length > 0 && entries.every(([key, value]) => labels[key] === value);
  });
  const byName = (name: string | undefined): V1Service | undefined =>
    name ? selecting.find((s) => s.metadata?.name === name) : undefined;
  return (byName('istio-egressgateway') ?? byName(labels.app) ?? selecting[0])?.metadata?.name;
}

function proxyAnnotationIncludesOutbound(pod: V1Pod): boolean {
  const annotation = pod.metadata?.annotations?.['proxy.istio.io/config'];
  if (!annotation) return false;
  try {
    const config = parse(annotation) as { proxyStatsMatcher?: unknown } | null;
    return statsMatcherIncludesOutbound(config?.proxyStatsMatcher);
  } catch {
    return false;
  }
}

/**
 * The egress gateway's access loggers: the mesh config's, or those the Telemetry API gives
 * it (Telemetry resources in the root namespace and the gateway's namespace), sorted by
 * whether the harness can read them.
 */
export async function detectGatewayAccessLog(
  kube: Kube,
  {
    mesh,
    gateway,
  }: {
    mesh: MeshAccessLogConfig;
    gateway: { namespace: string; labels: Record<string, string> };
  },
): Promise<AccessLogAssessment> {
  const namespaces = [...new Set([mesh.rootNamespace, gateway.namespace])];
  const telemetries: TelemetryResource[] = [];
  for (const namespace of namespaces) telemetries.push(...(await listTelemetries(kube, namespace)));
  return assessAccessLogs(resolveAccessLogs(mesh, telemetries, gateway));
}

/**
 * The Telemetry resources of one namespace, at the newest served version; none when the
 * API serves no Telemetry kind (CRDs not installed).
 */
async function listTelemetries(kube: Kube, namespace: string): Promise<TelemetryResource[]> {
  const { group, kind, plural, versions } = ISTIO_ACCESS_LOGGING.telemetry;
  for (const version of versions) {
    try {
      const list = await kube.objects.list(`${group}/${version}`, kind, namespace);
      return list.items;
    } catch (error) {
      if (isNotFound(error)) continue;
      const fix =
        apiFailure(error)?.code === 403
          ? `grant get and list on ${plural}.${group} (the ClusterRole in ci/rbac does), since a Telemetry resource can change the gateway's access-log format`
          : 'check that the cluster is reachable with this kubeconfig';
      throw new EnvironmentError(
        `Cannot list ${plural}.${group} in ${namespace} (${errorText(error)}); ${fix}.`,
        { cause: error },
      );
    }
  }
  return [];
}

async function listOrExplain<T>(list: () => Promise<T>, what: string): Promise<T> {
  try {
    return await list();
  } catch (error) {
    const code = apiFailure(error)?.code;
    const fix =
      code === 403
        ? 'grant the run the ClusterRole in ci/rbac (it needs to list them in all namespaces)'
        : 'check that the cluster is reachable with this kubeconfig';
    throw new EnvironmentError(`Cannot list ${what} (${errorText(error)}); ${fix}.`, {
      cause: error,
    });
  }
}
