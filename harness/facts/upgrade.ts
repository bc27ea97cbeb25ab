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
  restartedAtAnnotation: 'kubectl.kubernetes.io/restartedAt',
  source: 'istio/istio.io content/en/docs/setup/upgrade/{in-place,canary}/index.md',
} as const;

/**
 * Istio's gateway charts create a PodDisruptionBudget (`minAvailable: 1`) for each gateway
 * when `global.defaultPodDisruptionBudget.enabled` is true, the default. Source: istio/istio
 * manifests/charts/gateways/istio-egress/templates/poddisruptionbudget.yaml and values.yaml.
 * Holds for: Istio 1.x gateway charts (release-1.27 to release-1.31).
 */
export const GATEWAY_PDB = {
  minAvailable: 1,
  /** The IstioOperator `spec.values` switch the chart's template is guarded by. */
  valuesPath: 'global.defaultPodDisruptionBudget.enabled',
  source: 'istio/istio manifests/charts/gateways/istio-egress/templates/poddisruptionbudget.yaml',
} as const;
