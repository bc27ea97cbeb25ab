/**
 * Facts an upgrade run relies on: how Kubernetes rolls a Deployment, what old proxies see
 * through a new gateway when versions are incompatible, and the curl features the
 * disruption probes use. The simulated cluster models the same constants.
 */
import { HTTP_CONNECT_FAILURE_FLAGS, renderResponseFlags } from './envoy.ts';

/**
 * A Deployment's rolling update: `maxSurge` defaults to 25% rounded up, `maxUnavailable` to
 * 25% rounded down (so 2 replicas: 1 extra pod, none unavailable; 1 replica: the same).
 * Source: Kubernetes API reference, apps/v1 RollingUpdateDeployment (`maxSurge`,
 * `maxUnavailable`: "Defaults to 25%"; "calculated from percentage by rounding up" /
 * "rounding down"). Holds for: apps/v1 since Kubernetes 1.9, unchanged to 1.36.
 */
export const ROLLING_UPDATE_DEFAULTS = {
  maxSurgePercent: 25,
  maxUnavailablePercent: 25,
  source: 'https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/',
} as const;

/** Pods a rolling update may add and take away, from the strategy's values and the replica count. */
export function rollingUpdateBounds(
  strategy: { maxSurge?: unknown; maxUnavailable?: unknown } | undefined,
  replicas: number,
): { maxSurge: number; maxUnavailable: number } {
  const resolve = (value: unknown, fallbackPercent: number, roundUp: boolean): number => {
    if (typeof value === 'number') return value;
    const percent =
      typeof value === 'string' && /^\d+%$/.test(value)
        ? Number(value.slice(0, -1))
        : fallbackPercent;
    const exact = (percent * replicas) / 100;
    return roundUp ? Math.ceil(exact) : Math.floor(exact);
  };
  const maxSurge = resolve(strategy?.maxSurge, ROLLING_UPDATE_DEFAULTS.maxSurgePercent, true);
  let maxUnavailable = resolve(
    strategy?.maxUnavailable,
    ROLLING_UPDATE_DEFAULTS.maxUnavailablePercent,
    false,
  );
  // Validation forbids both being 0; the controller then behaves as maxUnavailable 1.
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable };
}

/**
 * What pods still on an old proxy saw through an egress gateway upgraded to an
 * incompatible version: HTTP answered `503` by their own sidecar, whose connection to the
 * gateway failed on every retry (response flags `UF` and `URX`), and HTTPS connections
 * reset (curl exit 35). Source: istio/istio#22842 (1.4.7 → 1.5.1, default profile with the
 * egress gateway), whose logs read `UF,URX`: the Envoy of then wrote flags in a fixed
 * order; today's writes them in the order set, `URX,UF` (`HTTP_CONNECT_FAILURE_FLAGS` and
 * `renderResponseFlags` in facts/envoy.ts), which is what `responseFlags` holds. Holds for:
 * any version pair whose gateway and old sidecars disagree on the gateway's listener ports
 * or protocol; the simulated cluster's `skew-breaks-old-proxies` fault produces exactly this.
 */
export const OLD_PROXY_THROUGH_NEW_GATEWAY_FAILURE = {
  httpStatus: 503,
  responseFlags: renderResponseFlags(HTTP_CONNECT_FAILURE_FLAGS),
  tlsCurlExit: 35,
  source: 'https://github.com/istio/istio/issues/22842',
} as const;

/**
 * curl's request-rate limit: `--rate N/U` (U one of s, m, h, d) starts serial transfers no
 * more often than that; with a URL glob (`[1-N]`) one curl process sends N requests, each
 * with its own URL, and carries on after a failed one. Source:
 * https://everything.curl.dev/usingcurl/transfers/request-rate (added in curl 7.84.0);
 * URL globbing: curl(1) "URL". Holds for: curl >= 7.84 (the client image is 8.11.1).
 */
export const CURL_RATE = {
  flag: '--rate',
  /** A per-minute rate expresses any interval of at least 60 ms exactly enough. */
  unit: 'm',
  minimumCurl: '7.84.0',
  source: 'https://everything.curl.dev/usingcurl/transfers/request-rate',
} as const;

/** `--rate` for one request every `intervalMs`. */
export function curlRateFor(intervalMs: number): string {
  return `${Math.max(1, Math.round(60_000 / intervalMs))}/${CURL_RATE.unit}`;
}

/**
 * Kubernetes expands `$(VAR)` in a container's `command` and `args` from the container's
 * environment, including Downward API values (`fieldRef: metadata.name`); an unknown
 * variable stays as written. Source: Kubernetes docs, "Define a Command and Arguments for a
 * Container" (Use environment variables to define arguments). Holds for: all supported
 * Kubernetes versions.
 */
export const ARGUMENT_EXPANSION = {
  pattern: /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
  source:
    'https://kubernetes.io/docs/tasks/inject-data-application/define-command-argument-container/',
} as const;

/**
 * The two ways Istio documents upgrading a control plane. In place: `istioctl install` of
 * the new version over the old, then restart the data plane. Canary: install the new
 * version with `--set revision=<rev>`, relabel namespaces `istio.io/rev=<rev>` (removing
 * `istio-injection`), restart their workloads, then remove the old control plane with
 * `istioctl uninstall --revision <old>`. `istioctl x precheck` checks a cluster before
 * either. Source: istio.io content/en/docs/setup/upgrade/in-place/index.md and
 * canary/index.md. Holds for: Istio 1.10 onwards.
 */
export const ISTIO_UPGRADE = {
  canaryRevision: 'b',
  source: 'istio/istio.io content/en/docs/setup/upgrade/{in-place,canary}/index.md',
} as const;

/**
 * Istio's egress gateway chart creates a PodDisruptionBudget (`minAvailable: 1`, selecting
 * the gateway's labels) only when `global.defaultPodDisruptionBudget.enabled` (default true)
 * and the gateway has more than one replica **as the chart sees it**: with
 * `autoscaleEnabled` (the chart's default, true) `autoscaleMin` must exceed 1 (default 1);
 * without it, `replicaCount` must. `components.egressGateways[].k8s.replicaCount` is a patch
 * on the rendered Deployment (operator/pkg/render/postprocess.go) that the template never
 * sees, so on its own it gives 2 replicas and no budget (and istioctl warns that it "should
 * not be set when values.gateways.istio-egressgateway.autoscaleEnabled is true"). Source:
 * istio/istio manifests/charts/gateways/istio-egress/templates/poddisruptionbudget.yaml (the
 * condition, "a workaround for kubernetes/kubernetes#93476"), values.yaml (autoscaleEnabled
 * true, autoscaleMin 1), templates/deployment.yaml (`replicas` from replicaCount only without
 * autoscaling), operator/pkg/apis/validation/validation.go (checkAutoScaleAndReplicaCount).
 * Holds for: tags 1.27.0 to 1.30.3 and master (2026-08).
 */
export const GATEWAY_PDB = {
  minAvailable: 1,
  /** The IstioOperator `spec.values` switch the chart's template is guarded by. */
  valuesPath: 'global.defaultPodDisruptionBudget.enabled',
  /** The gateway's values in `spec.values` (`gateways.istio-egressgateway.*`). */
  gatewayValuesPath: 'gateways.istio-egressgateway',
  chartDefaults: { enabled: true, autoscaleEnabled: true, autoscaleMin: 1 },
  source: 'istio/istio manifests/charts/gateways/istio-egress/templates/poddisruptionbudget.yaml',
} as const;

/** Whether the egress chart renders its PodDisruptionBudget for an IstioOperator's `spec.values`. */
export function egressChartRendersPdb(values: unknown): boolean {
  const record = (value: unknown): Record<string, unknown> =>
    value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  const global = record(record(values).global);
  const gateway = record(record(record(values).gateways)['istio-egressgateway']);
  const defaults = GATEWAY_PDB.chartDefaults;
  const enabled = record(global.defaultPodDisruptionBudget).enabled ?? defaults.enabled;
  if (enabled !== true) return false;
  const number = (value: unknown, fallback: number): number =>
    typeof value === 'number' ? value : fallback;
  return (gateway.autoscaleEnabled ?? defaults.autoscaleEnabled) === true
    ? number(gateway.autoscaleMin, defaults.autoscaleMin) > 1
    : number(gateway.replicaCount, 0) > 1;
}
