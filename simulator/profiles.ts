/**
 * Cluster profiles: the shapes real clusters take that the pinned versions do not produce,
 * chosen with `EGRESS_SIM_PROFILE=<name>[,<name>…]`. Each adjusts what the simulated cluster
 * starts with (the node's Kubernetes version, the Istio install, objects a platform team
 * applied afterwards); the injector and the mesh model then behave as they do for any
 * cluster of that shape. Every value comes from an upstream fact in harness/facts*.ts.
 * Without a profile (or with `default`) the cluster is what the pinned versions produce:
 * Istio 1.31 on Kubernetes 1.36 (native sidecars), the default revision, istiod and the
 * egress gateway in istio-system, access logs through `meshConfig.accessLogFile` in Istio's
 * TEXT format, and `cluster.outbound` stats kept. docs/simulated-cluster.md lists them with
 * the verdict a run against each must reach (tests/e2e/profiles.e2e.test.ts asserts them).
 */
import { ENVOY_DEFAULT_ACCESS_LOG_FORMAT } from '../harness/facts.ts';
import {
  CANARY_REVISION,
  CLASSIC_SIDECAR_KUBERNETES,
  KUBERNETES_BELOW_PRECHECK_MINIMUM,
  ISTIO_CONTROL_PLANE,
  MESH_DEFAULT_ACCESS_LOG_TELEMETRY,
  SEPARATE_EGRESS_GATEWAY_NAMESPACE,
} from '../harness/facts/istio-install.ts';
import type { IstioInstallOptions } from './istio-bootstrap.ts';
import type { KubeObject } from './types.ts';

/** The profile names, `default` first. */
export const PROFILE_NAMES = [
  'default',
  'classic-sidecars',
  'revisioned',
  'gateway-namespace',
  'custom-log-format',
  'telemetry-logging',
  'json-logs',
  'no-outbound-stats',
  'no-gateway-api',
  'old-kubernetes',
] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** One cluster shape. */
export interface ClusterProfile {
  /** The real clusters it stands for. */
  shape: string;
  /** The Kubernetes version of the simulated node (the kubelet's and the API server's). */
  kubernetesVersion?: string;
  /** What the Istio install does differently from the pinned overlay's. */
  install?: IstioInstallOptions;
  /** Objects applied after the install, as a platform team would. */
  objects?: () => KubeObject[];
  /** False: the Gateway API CRDs were never installed (Kubernetes does not ship them). */
  gatewayApiCrds?: false;
}

/** The profiles, by name. */
export const PROFILES: Readonly<Record<ProfileName, ClusterProfile>> = Object.freeze({
  default: { shape: 'what the pinned versions produce' },
  'classic-sidecars': {
    shape:
      'Kubernetes below 1.33 (or Istio below 1.27): istio-proxy is a regular container (NATIVE_SIDECARS, CLASSIC_SIDECAR_KUBERNETES)',
    kubernetesVersion: CLASSIC_SIDECAR_KUBERNETES.version,
  },
  revisioned: {
    shape: `a revisioned control plane without a default tag: istiod-${CANARY_REVISION}, ConfigMap istio-${CANARY_REVISION}, its injector webhook only (ISTIO_CONTROL_PLANE, INJECTION)`,
    install: { revision: CANARY_REVISION },
  },
  'gateway-namespace': {
    shape: `the egress gateway in ${SEPARATE_EGRESS_GATEWAY_NAMESPACE}, istiod in ${ISTIO_CONTROL_PLANE.defaultNamespace} (SEPARATE_EGRESS_GATEWAY_NAMESPACE)`,
    install: { gatewayNamespace: SEPARATE_EGRESS_GATEWAY_NAMESPACE },
  },
  'custom-log-format': {
    shape:
      "meshConfig.accessLogFormat set to Envoy's own default format, which lacks the upstream cluster (ENVOY_DEFAULT_ACCESS_LOG_FORMAT)",
    install: { accessLogFormat: ENVOY_DEFAULT_ACCESS_LOG_FORMAT },
  },
  'telemetry-logging': {
    shape:
      'access logs switched on by a mesh-wide Telemetry resource, meshConfig.accessLogFile empty (MESH_DEFAULT_ACCESS_LOG_TELEMETRY, ISTIO_ACCESS_LOGGING)',
    install: { accessLogFile: '' },
    objects: () => [
      {
        apiVersion: MESH_DEFAULT_ACCESS_LOG_TELEMETRY.apiVersion,
        kind: MESH_DEFAULT_ACCESS_LOG_TELEMETRY.kind,
        metadata: {
          name: MESH_DEFAULT_ACCESS_LOG_TELEMETRY.name,
          namespace: ISTIO_CONTROL_PLANE.defaultNamespace,
        },
        spec: structuredClone(MESH_DEFAULT_ACCESS_LOG_TELEMETRY.spec),
      },
    ],
  },
  'json-logs': {
    shape:
      "meshConfig.accessLogEncoding JSON with Istio's default keys (ISTIO_JSON_ACCESS_LOG_LABELS)",
    install: { accessLogEncoding: 'JSON' },
  },
  'no-outbound-stats': {
    shape:
      'no cluster.outbound inclusion in proxyStatsMatcher: the gateway hides its per-upstream counters (docs/istio-facts.md, Envoy stats)',
    install: { outboundStatsIncluded: false },
  },
  'no-gateway-api': {
    shape:
      'the Gateway API CRDs never installed (Kubernetes ships without them; GATEWAY_API_CRDS): the kinds are not served',
    gatewayApiCrds: false,
  },
  'old-kubernetes': {
    shape:
      'Kubernetes 1.31: Istio 1.29 runs on it, istioctl 1.30 and 1.31 refuse it in `x precheck` (IST0142; KUBERNETES_BELOW_PRECHECK_MINIMUM, ISTIOCTL_PRECHECK)',
    kubernetesVersion: KUBERNETES_BELOW_PRECHECK_MINIMUM.version,
  },
});

/** Reads `EGRESS_SIM_PROFILE`; throws naming the valid profiles on an unknown one. */
export function readProfiles(raw: string | undefined): ProfileName[] {
  const names: ProfileName[] = [];
  for (const entry of (raw ?? '').split(',')) {
    const name = entry.trim();
    if (name === '') continue;
    if (!(PROFILE_NAMES as readonly string[]).includes(name)) {
      throw new Error(
        `EGRESS_SIM_PROFILE: unknown profile "${name}"; valid names: ${PROFILE_NAMES.join(', ')}`,
      );
    }
    if (!names.includes(name as ProfileName)) names.push(name as ProfileName);
  }
  return names;
}

/** What the chosen profiles make of a cluster: later profiles win where two set the same thing. */
export interface ProfiledCluster {
  kubernetesVersion: string | undefined;
  install: IstioInstallOptions;
  objects: KubeObject[];
  /** Whether the cluster starts with the Gateway API CRDs (when Istio is installed at start). */
  gatewayApiCrds: boolean;
}

/** Applies the profiles to the cluster's node version and Istio install. */
export function applyProfiles(
  names: readonly ProfileName[],
  base: { kubernetesVersion?: string | undefined; install?: IstioInstallOptions } = {},
): ProfiledCluster {
  let kubernetesVersion = base.kubernetesVersion;
  let install: IstioInstallOptions = { ...base.install };
  const objects: KubeObject[] = [];
  let gatewayApiCrds = true;
  for (const name of names) {
    const profile = PROFILES[name];
    kubernetesVersion = profile.kubernetesVersion ?? kubernetesVersion;
    install = { ...install, ...profile.install };
    objects.push(...(profile.objects?.() ?? []));
    gatewayApiCrds = profile.gatewayApiCrds ?? gatewayApiCrds;
  }
  return { kubernetesVersion, install, objects, gatewayApiCrds };
}
