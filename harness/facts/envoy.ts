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

/**
 * What a sidecar does with traffic to a host its registry does not know, by outbound
 * traffic policy (istio/istio `pilot/pkg/networking/util/util.go` constants,
 * `pilot/pkg/networking/core/httproute.go` `buildCatchAllVirtualHost`,
 * `listener_builder.go` `buildOutboundCatchAllNetworkFiltersOnly`, `listener.go`
 * `buildListenerFromEntry`, `cluster_builder.go` `buildBlackHoleCluster`; checked at tags
 * 1.27.0–1.30.3 and master of 2026-08-22):
 * - on an HTTP listener of that port, the catch-all virtual host and route are named
 *   `block_all` (REGISTRY_ONLY) and answer with a direct response `502`, so the proxy's
 *   access log shows code 502, route name `block_all` and no upstream cluster; under
 *   ALLOW_ANY they are named `allow_any` and forward to `PassthroughCluster`;
 * - anything else (TLS with an SNI no filter chain matches, plain TCP) reaches the listener's
 *   default filter chain, a tcp_proxy to `BlackHoleCluster` (a STATIC cluster without
 *   endpoints: the connection is closed, the log names upstream cluster `BlackHoleCluster`)
 *   or to `PassthroughCluster`.
 * Which policy applies: the `outboundTrafficPolicy` of the Sidecar resource selecting the
 * proxy, else the mesh config's (`pilot/pkg/model/sidecar.go`, SIDECAR_SCOPE).
 */
export const UNKNOWN_DESTINATION = {
  blackHoleCluster: 'BlackHoleCluster',
  blackHoleRoute: 'block_all',
  blackHoleHttpStatus: 502,
  passthroughCluster: 'PassthroughCluster',
  passthroughRoute: 'allow_any',
} as const;

/**
 * Which Sidecar resource configures a sidecar proxy (istio/istio `pilot/pkg/model/
 * push_context.go` `doGetSidecarScope`, `sidecar.go` `initSidecarScopeInternalIndexes`;
 * checked at 1.30.3 and master of 2026-08-22): among the Sidecars of the proxy's own
 * namespace, those with a `workloadSelector` come first and the oldest wins, one whose
 * selector labels are all on the pod; then the one without selector; else a Sidecar without
 * selector in the root namespace. Gateways never take one. Its `outboundTrafficPolicy`,
 * when set, replaces the mesh config's.
 */
export const SIDECAR_SCOPE = {
  kind: 'Sidecar',
  source: 'istio/istio pilot/pkg/model/push_context.go doGetSidecarScope, sidecar.go (1.30)',
} as const;

/**
 * How Envoy writes `%RESPONSE_FLAGS%`: the short names of the flags set on the stream,
 * joined by `,` in the order the filters set them (setting one twice keeps its first place),
 * `-` when none is set. Source: envoyproxy/envoy `source/common/stream_info/utility.cc`
 * (`ResponseFlagUtils::toString` walks `stream_info.responseFlags()` and joins with ",") and
 * `source/common/stream_info/stream_info_impl.h` (`setResponseFlag` appends to a list unless
 * the flag is in it). Holds for: Envoy 1.30 and later, so every Istio this project supports
 * (read at a recent main commit and at one older than 1.30.0, which already has the list but
 * not 1.30's `DR` flag; the release that brought the list was not pinned down). Older Envoys
 * kept a bitmask and wrote the flags in their fixed table order (`UF` before `URX`): that is
 * why the 1.4/1.5-era sidecars of istio/istio#22842 logged `UF,URX` for what today's write as
 * `URX,UF`.
 */
export const RESPONSE_FLAGS_FORMAT = {
  separator: ',',
  none: '-',
  source: 'envoyproxy/envoy source/common/stream_info/utility.cc ResponseFlagUtils::toString',
} as const;

/** `%RESPONSE_FLAGS%` for flags given in the order Envoy's filters set them. */
export function renderResponseFlags(setOrder: readonly string[]): string {
  const flags = [...new Set(setOrder)];
  return flags.length === 0
    ? RESPONSE_FLAGS_FORMAT.none
    : flags.join(RESPONSE_FLAGS_FORMAT.separator);
}

/**
 * The flags Envoy's HTTP router sets, in this order, on a request whose upstream connection
 * failed on every attempt its retry policy allows: `URX` when the retry state answers "limit
 * exceeded" (`Filter::maybeRetryReset`), then `UF` for the connection failure itself
 * (`Filter::onUpstreamReset` → `onUpstreamAbort` with `streamResetReasonToResponseFlag`), so
 * the log reads `URX,UF`. Istio gives every HTTP route a retry policy unless a
 * VirtualService sets `attempts: 0` (2 retries on `connect-failure,…`; istio/istio
 * `pilot/pkg/networking/core/route/retry/retry.go` `defaultPolicy`); without one the router
 * returns before setting `URX` and the log reads `UF`. Source: envoyproxy/envoy
 * `source/common/router/router.cc` (a recent main commit). Holds for: Envoy 1.30 onwards (see
 * {@link RESPONSE_FLAGS_FORMAT}).
 */
export const HTTP_CONNECT_FAILURE_FLAGS = ['URX', 'UF'] as const;
