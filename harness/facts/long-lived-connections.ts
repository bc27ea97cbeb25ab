/**
 * What keeps a connection through the egress gateway alive, and what ends it: curl's
 * connection reuse (the long-lived connection probe is one curl process), HTTP's
 * `Connection: close`, and how an Istio gateway pod drains when it terminates. The simulated
 * cluster models the same constants.
 */

/**
 * curl reuses a connection for the next transfer of the same command line: the tool shares
 * one connection cache between its transfers (`CURL_LOCK_DATA_CONNECT`). Before reusing it,
 * libcurl checks that the connection is still alive ("Connection N seems to be dead") and
 * opens a new one if not; a request sent on a reused connection that gets no byte back is
 * sent again on a fresh connect ("Connection died, retrying a fresh connect"). A response
 * with `Connection: close` makes curl close the connection after it. Write-out variables:
 * `%{num_connects}` (new connects in the transfer, 7.12.3), `%{conn_id}` (the connection's id,
 * unique in the cache, 8.2.0; the simulated curl prints -1 when no connection was made),
 * `%header{name}` (a response header, 7.84.0). `--http1.1` keeps ALPN to HTTP/1.1, so the
 * connection carries HTTP/1.1 and its `Connection` header. Source: curl/curl at curl-8_11_1:
 * docs/cmdline-opts/_URL.md ("curl attempts to reuse connections when doing multiple
 * transfers"), docs/cmdline-opts/write-out.md, src/tool_operate.c, lib/url.c, lib/transfer.c
 * (Curl_retry_request), lib/http.c ("Connection: close used"). Holds for: curl 8.2.0 and later
 * (the client image is 8.11.1).
 */
export const CURL_CONNECTION_REUSE = {
  minimumCurl: '8.2.0',
  http11Flag: '--http1.1',
  source: 'curl/curl docs/cmdline-opts/_URL.md, write-out.md (curl-8_11_1)',
} as const;

/**
 * A request carrying `Connection: close` ends its connection: the server closes it after the
 * response (and says so with `Connection: close`), and the client sends nothing more on it.
 * Source: RFC 9112 section 9.6 ("Tear-down"). Holds for: HTTP/1.1.
 */
export const HTTP_CONNECTION_CLOSE = {
  header: 'Connection: close',
  source: 'https://www.rfc-editor.org/rfc/rfc9112#section-9.6',
} as const;

/**
 * A terminating Istio gateway pod: on SIGTERM pilot-agent asks Envoy to drain every listener
 * gracefully (`drain_listeners?graceful`; a sidecar drains inbound only), waits
 * `terminationDrainDuration` (ProxyConfig, default 5 s), then stops Envoy; with
 * `EXIT_ON_ZERO_ACTIVE_CONNECTIONS=true` it waits `MINIMUM_DRAIN_DURATION` (5 s) and then until
 * no downstream connection is active, bounded only by the pod's
 * terminationGracePeriodSeconds. Envoy drains gracefully only in the network filters that
 * support it (the HTTP connection manager, Redis, Mongo, Thrift); a `tcp_proxy` connection, which is what TLS passed through by SNI is, stays open through the
 * drain and is closed when Envoy stops. So a long-lived connection through a gateway pod that
 * is replaced breaks even in a perfect rolling update; the client must reconnect, and reaches
 * a ready pod. Sources: istio/istio pkg/envoy/agent.go (terminate), pkg/envoy/admin.go
 * (DrainListeners), pkg/config/mesh/mesh.go (DefaultProxyConfig TerminationDrainDuration),
 * pilot/cmd/pilot-agent/options/options.go (MINIMUM_DRAIN_DURATION,
 * EXIT_ON_ZERO_ACTIVE_CONNECTIONS default false); Envoy docs "Draining"
 * (intro/arch_overview/operations/draining: "it must be supported at the network filter
 * level"). Holds for: Istio tags 1.27.0 to 1.30.3 and master (2026-08).
 */
export const GATEWAY_TERMINATION_DRAIN = {
  terminationDrainMs: 5000,
  minimumDrainMs: 5000,
  exitOnZeroActiveConnections: false,
  source: 'istio/istio pkg/envoy/agent.go, pkg/config/mesh/mesh.go; Envoy docs "Draining"',
} as const;
