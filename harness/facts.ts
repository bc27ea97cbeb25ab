/**
 * Outside facts the product relies on, each in one place with its upstream source and the
 * versions it holds for. The simulated cluster imports these same constants where it
 * models the same thing, so a fact that is wrong is wrong in one place, with a source a
 * reviewer can open (docs/istio-facts.md lists them all).
 */

/** A structural view of a pod: only the fields these facts read. */
export interface PodShape {
  spec?: {
    containers?: readonly { name?: string }[];
    initContainers?: readonly { name?: string; restartPolicy?: string }[];
  };
}

/**
 * The name of the Envoy sidecar and gateway container.
 * Source: istio/istio `pkg/kube/inject/inject.go` (`ProxyContainerName = "istio-proxy"`).
 * Holds for: every Istio release since 1.0.
 */
export const PROXY_CONTAINER = 'istio-proxy';

/**
 * Native sidecars. `ENABLE_NATIVE_SIDECARS` defaults to `auto` since Istio 1.27
 * (istio/istio `pilot/pkg/features/pilot.go`); in `auto` the injector checks every node's
 * kubelet minor version against `minVersion := 33` (`pkg/kube/inject/webhook.go`,
 * `detectNativeSidecar`: "Native sidecars feature graduated to stable in Kubernetes 1.33")
 * and then renders `istio-proxy` into `spec.initContainers` with `restartPolicy: Always`
 * (`manifests/charts/istio-control/istio-discovery/files/injection-template.yaml`).
 * Holds for: Istio >= 1.27 with the flag left at its default; before 1.27 the proxy is a
 * regular container unless the flag was set by hand.
 */
export const NATIVE_SIDECARS = {
  istioMinimum: { major: 1, minor: 27 },
  kubernetesMinimumMinor: 33,
  restartPolicy: 'Always',
  source:
    'istio/istio pilot/pkg/features/pilot.go (ENABLE_NATIVE_SIDECARS=auto since 1.27); pkg/kube/inject/webhook.go detectNativeSidecar (minVersion 33)',
} as const;

/**
 * The proxy container of a pod in either layout: a regular container (classic sidecar,
 * gateway) or a restartable init container (native sidecar). An init container named
 * `istio-proxy` without `restartPolicy: Always` is not a running proxy.
 */
export function proxyContainer<P extends PodShape>(
  pod: P,
): { name?: string; restartPolicy?: string } | undefined {
  const regular = (pod.spec?.containers ?? []).find((c) => c.name === PROXY_CONTAINER);
  if (regular) return regular;
  return (pod.spec?.initContainers ?? []).find(
    (c) => c.name === PROXY_CONTAINER && c.restartPolicy === NATIVE_SIDECARS.restartPolicy,
  );
}

/** Whether a pod runs Istio's proxy, in the classic or the native-sidecar layout. */
export function hasProxy(pod: PodShape): boolean {
  return proxyContainer(pod) !== undefined;
}

/** Whether the pod's proxy is a native sidecar (a restartable init container). */
export function isNativeSidecar(pod: PodShape): boolean {
  return (pod.spec?.initContainers ?? []).some(
    (c) => c.name === PROXY_CONTAINER && c.restartPolicy === NATIVE_SIDECARS.restartPolicy,
  );
}

/** `1.31.1`, `v1.36.1`, `1.27-dev` → major and minor; undefined when unreadable. */
export function majorMinor(version: string): { major: number; minor: number } | undefined {
  const match = /^v?(\d+)\.(\d+)/.exec(version.trim());
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]) };
}

/**
 * Whether Istio's injector in `auto` mode renders native sidecars: Istio at least 1.27 and
 * every node's kubelet at least 1.33 (an unreadable kubelet version disables it, as
 * upstream does).
 */
export function injectsNativeSidecars(istioVersion: string, kubeletVersions: string[]): boolean {
  const istio = majorMinor(istioVersion);
  if (!istio) return false;
  const min = NATIVE_SIDECARS.istioMinimum;
  if (istio.major < min.major || (istio.major === min.major && istio.minor < min.minor)) {
    return false;
  }
  if (kubeletVersions.length === 0) return false;
  return kubeletVersions.every((version) => {
    const kubelet = majorMinor(version);
    return (
      kubelet !== undefined &&
      kubelet.major === 1 &&
      kubelet.minor >= NATIVE_SIDECARS.kubernetesMinimumMinor
    );
  });
}

// ---------------------------------------------------------------------------------------
// Access logging: which loggers a proxy gets and in which format (source audit 2026-11-30,
// checked in istio/istio at tags 1.27.0, 1.28.0, 1.29.0, 1.30.3, 1.31.0-rc.0 and master of
// 2026-08-22; the lines quoted below are identical in all of them).

/**
 * Istio's default TEXT access-log format, `EnvoyTextLogFormat` in istio/istio
 * `pilot/pkg/model/telemetry_logging.go` (Istio 1.9 onwards; identical in 1.27–1.31). It
 * ends with the newline Istio appends to every TEXT format (`fileAccessLogFormat`: "Istio
 * will insert a newline ('\n') on all formats (if missing)"). Used for
 * `meshConfig.accessLogEncoding: TEXT` without `accessLogFormat`, and by an
 * `envoyFileAccessLog` provider without `logFormat` or with an empty `logFormat.text`.
 */
export const ISTIO_TEXT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

/**
 * Istio's default JSON access-log keys, `EnvoyJSONLogFormatIstio` in istio/istio
 * `pilot/pkg/model/telemetry_logging.go` (identical in 1.27–1.31). Used for
 * `accessLogEncoding: JSON` without `accessLogFormat` (or with one that is not a JSON
 * object: `FileAccessLogFromMeshConfig` logs the parse error and keeps these), and by an
 * `envoyFileAccessLog` provider whose `logFormat.labels` is empty.
 */
export const ISTIO_JSON_ACCESS_LOG_LABELS: Readonly<Record<string, string>> = Object.freeze({
  start_time: '%START_TIME%',
  route_name: '%ROUTE_NAME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER_RAW%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
});

/**
 * Envoy's own default access-log format, which a file access log without any format gets:
 * Istio leaves the format unset for an `envoyFileAccessLog` provider whose `logFormat` is
 * present but holds neither `text` nor `labels` (`fileAccessLogFromTelemetry`). Source:
 * envoyproxy/envoy `docs/root/configuration/observability/access_log/usage.rst`
 * ("Default Format String"), unchanged across the Envoy releases Istio 1.27–1.31 ship.
 */
export const ENVOY_DEFAULT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/**
 * How Envoy prints a command operator without a value: `-` in TEXT, `null` in JSON; with
 * `omit_empty_values` an empty string in TEXT and no key at all in JSON. Source:
 * envoyproxy/envoy `api/envoy/config/core/v3/substitution_format_string.proto`
 * (`omit_empty_values`); Istio passes `omitEmptyValues` of an `envoyFileAccessLog` provider
 * through (`buildFileAccessTextLogFormat`, `buildFileAccessJSONLogFormat`).
 */
export const ENVOY_EMPTY_VALUE = Object.freeze({ text: '-', json: null, textOmitted: '' });

/**
 * The mesh-config and Telemetry facts behind a proxy's access loggers:
 * - The default mesh config has `rootNamespace: istio-system` and, among its
 *   `extensionProviders`, the built-in `envoy` provider: `envoyFileAccessLog` to
 *   `/dev/stdout` (istio/istio `pkg/config/mesh/mesh.go`, `DefaultMeshConfig`). Providers a
 *   mesh config lists replace the default of the same name and add to the others
 *   (`ApplyMeshConfig`); Telemetry refers to them by name, compared case-insensitively
 *   (`fetchProvider`, `strings.EqualFold`).
 * - The built-in provider (named exactly `envoy`) without `logFormat` and without
 *   `omitEmptyValues` uses the mesh config's `accessLogEncoding`/`accessLogFormat`
 *   (`telemetryAccessLog` → `FileAccessLogFromMeshConfig`); any other `envoyFileAccessLog`
 *   provider uses its own `logFormat` (`text`, or `labels` for JSON), its `path` defaulting
 *   to `/dev/stdout` (`fileAccessLogFromTelemetry`). Other provider kinds (gRPC ALS,
 *   OpenTelemetry) do not write to a file.
 * - When no Telemetry resource with `accessLogging` applies to a proxy and
 *   `meshConfig.defaultProviders.accessLogging` is empty, the mesh config alone decides:
 *   a non-empty `accessLogFile` turns the file logger on (`Telemetries.AccessLogging`
 *   returns nil; `pilot/pkg/networking/core/accesslog.go`, "fall back to legacy mesh config
 *   setting"). The same fallback applies when none of the providers they name exists in the
 *   mesh config or is a logger (a metrics or tracing provider); a provider turned off with
 *   `disabled` still counts. Otherwise the Telemetry providers replace `accessLogFile`.
 * - Which Telemetry resources apply to a proxy (`applicableTelemetries`): the first
 *   namespace-wide one (no `selector.matchLabels`, no `targetRefs`; oldest first, then by
 *   name, `configCompareByCreationTime` in `pilot/pkg/model/config.go`) of the root
 *   namespace, then that of the proxy's namespace, then every workload-level one in the
 *   proxy's namespace that attaches to it. A pod that is not a Gateway API gateway (no
 *   `gateway.networking.k8s.io/gateway-name` label) attaches selector policies whose
 *   `matchLabels` are a subset of its labels and ignores any policy with `targetRefs`;
 *   a Gateway API gateway attaches policies whose `targetRefs` name its Gateway, and
 *   selector policies while `ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY` is on, its default
 *   (`pilot/pkg/model/policyattachment.go`, `pilot/pkg/features/pilot.go`).
 * - How their `accessLogging` entries merge (`mergeLogs`): later levels override earlier
 *   ones; an entry without providers means the previous level's (at first
 *   `defaultProviders.accessLogging`); `disabled: true` turns a provider off; an entry with
 *   `match.mode` SERVER does not apply to a gateway, whose listeners count as CLIENT
 *   (`workloadMode`).
 * - The Telemetry API (`telemetries.telemetry.istio.io`) is served as `v1` since Istio 1.22
 *   and as `v1alpha1` before and since (`manifests/charts/base/crds/crd-all.gen.yaml`).
 * Holds for: Istio 1.27–1.31. Between those tags the functions named differ only in which
 * formatter extensions they attach (1.27 passes `skipBuiltInFormatter`) and in waypoint
 * handling, neither of which changes the format or the choice of loggers.
 */
export const ISTIO_ACCESS_LOGGING = Object.freeze({
  rootNamespaceDefault: 'istio-system',
  builtinProvider: 'envoy',
  builtinProviderPath: '/dev/stdout',
  providerPathDefault: '/dev/stdout',
  gatewayWorkloadMode: 'CLIENT',
  gatewayApiNameLabel: 'gateway.networking.k8s.io/gateway-name',
  selectorPolicyOnGatewayApiGateways: true,
  telemetry: Object.freeze({
    group: 'telemetry.istio.io',
    kind: 'Telemetry',
    plural: 'telemetries',
    /** Preferred first; v1 is served from Istio 1.22. */
    versions: Object.freeze(['v1', 'v1alpha1']),
  }),
  source:
    'istio/istio pilot/pkg/model/telemetry_logging.go, telemetry.go, policyattachment.go, config.go; pilot/pkg/networking/core/accesslog.go; pkg/config/mesh/mesh.go (tags 1.27.0–1.31.0-rc.0)',
});

/**
 * The files whose lines reach a container's log, which is all the harness can read (the
 * pods/log API): the container runtime captures the standard output and standard error
 * streams. Source: kubernetes/website `content/en/docs/concepts/cluster-administration/logging.md`
 * ("Pod and container logs"). An access log written to any other path never reaches it.
 */
export const CONTAINER_LOG_PATHS: readonly string[] = Object.freeze(['/dev/stdout', '/dev/stderr']);
