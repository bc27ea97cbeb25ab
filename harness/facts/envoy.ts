/**
 * Names Istio and Envoy give the gateway's clusters, counters and admin commands: the
 * evidence the suites read and the simulated proxies write.
 */

/**
 * Istio's Envoy cluster name for a service port (and subset): `outbound|PORT|SUBSET|HOST`,
 * with an empty subset for the plain service. Source: istio/istio `pilot/pkg/model/service.go`
 * `BuildSubsetKey` (`string(direction) + "|" + port + "|" + subsetName + "|" + hostname`).
 * Holds for: every Istio release since 1.0 (unchanged in 1.27–1.31).
 */
export function istioClusterName(
  port: number,
  host: string,
  {
    subset = '',
    direction = 'outbound',
  }: { subset?: string; direction?: 'outbound' | 'inbound' } = {},
): string {
  return `${direction}|${port}|${subset}|${host}`;
}

/**
 * Envoy's per-cluster upstream counters, read as `cluster.<name>.<stat>`. Source:
 * envoyproxy/envoy `docs/root/configuration/upstream/cluster_manager/cluster_stats.rst`
 * (`upstream_cx_total`: total connections, `upstream_rq_total`: total requests).
 * Istio keeps `cluster.outbound|…` stats only when the proxy's stats matcher includes them
 * (docs/istio-facts.md).
 */
export const ENVOY_CLUSTER_STATS = {
  connections: 'upstream_cx_total',
  requests: 'upstream_rq_total',
} as const;

/** `cluster.<cluster>.<stat>`: how Envoy's admin `stats` names a cluster counter. */
export function clusterStatName(cluster: string, stat: string): string {
  return `cluster.${cluster}.${stat}`;
}

/**
 * Istio's standard TCP metric, reported by the gateway as `reporter="source"`. Source:
 * istio.io `content/en/docs/reference/config/metrics/index.md` (TCP metrics:
 * `istio_tcp_connections_opened_total`). Holds for: Istio 1.5 onwards (telemetry v2).
 */
export const ISTIO_TCP_CONNECTIONS_OPENED = 'istio_tcp_connections_opened_total';

/**
 * Reading Envoy's admin API inside a proxy container: `pilot-agent request GET <path>`
 * (`stats`, `stats/prometheus`, `config_dump`, `clusters`, …). Source: istio/istio
 * `pilot/cmd/pilot-agent/app/request.go` (the `request <method> <path>` command). Holds
 * for: Istio 1.x; distroless proxies have no curl, so this is the one way in.
 */
export function pilotAgentRequest(path: string): string[] {
  return ['pilot-agent', 'request', 'GET', path];
}
