/**
 * The Kubernetes Gateway API as Istio implements it for egress: the release whose CRDs the
 * kind path installs, the kinds and versions the suites' manifests use, what Istio deploys
 * for a Gateway of class `istio` (names, labels, annotations), Istio's own extensions
 * (ServiceEntry parents, Hostname backends, the ISTIO_MUTUAL terminate option) and the status
 * conditions the harness waits on. The simulated cluster models the same constants.
 *
 * Sources:
 * - kubernetes-sigs/gateway-api, tags v1.4.1–v1.6.1: `config/crd/standard/*.yaml` (TLSRoute
 *   joined the standard channel as `v1` in v1.5.0; v1.4.x had it only in experimental as
 *   v1alpha2/v1alpha3), `apis/v1/gateway_types.go` and `apis/v1/shared_types.go` (conditions),
 *   `.github/workflows/verify-release-artifacts.yml` (release asset `standard-install.yaml`)
 *   and the release notes template (`kubectl apply --server-side=true -f …`).
 * - istio/istio master of 2026-08-22 (1.31): `manifests/charts/istio-control/istio-discovery/
 *   files/kube-gateway.yaml` (ServiceAccount, Deployment, Service and their labels),
 *   `pilot/pkg/config/kube/gatewaycommon/{deploymentcontroller,gateway_utils}.go`
 *   (`<name>-<class>` names, `networking.istio.io/service-type`,
 *   `gateway.istio.io/tls-terminate-mode`), `pilot/pkg/config/kube/gateway/conversion.go`
 *   (Hostname backends, route names `<ns>.<name>.<index>`), `route_collections.go`
 *   (a ServiceEntry parent binds the route to the sidecars for the entry's hosts).
 * - istio/istio.io `content/en/docs/tasks/traffic-management/egress/egress-gateway/index.md`
 *   (Gateway API tabs, snips.sh) and `.../egress-gateway-tls-origination/index.md` (the
 *   mutual-TLS form: an HTTPS listener on 80 with tls.mode Terminate and the ISTIO_MUTUAL
 *   option, a DestinationRule on `<gateway>-istio.<ns>.svc.cluster.local`).
 * Holds for: Istio 1.22+ (Gateway API v1), checked against 1.29–1.31.
 */

/** The Gateway API release whose standard-channel CRDs the kind path installs (versions.json pins it). */
export const GATEWAY_API_RELEASE = {
  group: 'gateway.networking.k8s.io',
  /** The release asset holding every standard-channel CRD; applied server-side (they exceed the client-side annotation limit). */
  installAsset: 'standard-install.yaml',
  installUrl: (version: string): string =>
    `https://github.com/kubernetes-sigs/gateway-api/releases/download/${version}/standard-install.yaml`,
  /** The first release with TLSRoute in the standard channel. */
  tlsRouteStandardSince: 'v1.5.0',
} as const;

/** apiVersions the suites' Gateway API manifests use (all `v1` in the standard channel since v1.5.0). */
export const GATEWAY_API_VERSIONS = {
  GatewayClass: 'gateway.networking.k8s.io/v1',
  Gateway: 'gateway.networking.k8s.io/v1',
  HTTPRoute: 'gateway.networking.k8s.io/v1',
  TLSRoute: 'gateway.networking.k8s.io/v1',
} as const;

/** The CRD a cluster must serve for each kind the suites apply (plural.group). */
export const GATEWAY_API_CRDS = [
  'gatewayclasses.gateway.networking.k8s.io',
  'gateways.gateway.networking.k8s.io',
  'httproutes.gateway.networking.k8s.io',
  'tlsroutes.gateway.networking.k8s.io',
] as const;

/**
 * What Istio's gateway deployment controller creates for a Gateway of class `istio`
 * (`kube-gateway.yaml`): a ServiceAccount, Deployment and Service all named
 * `<gateway>-istio`, in the Gateway's namespace; the pods labelled with the gateway's name
 * (the Service selects on it), `sidecar.istio.io/inject: "false"` (the pod runs the proxy
 * itself, as a gateway), and the managed-by label.
 */
export const ISTIO_GATEWAY_DEPLOYMENT = {
  className: 'istio',
  controllerName: 'istio.io/gateway-controller',
  gatewayNameLabel: 'gateway.networking.k8s.io/gateway-name',
  gatewayClassNameLabel: 'gateway.networking.k8s.io/gateway-class-name',
  managedLabel: { key: 'gateway.istio.io/managed', value: 'istio.io-gateway-controller' },
  /** Annotation choosing the Service's type (the egress page asks for ClusterIP). */
  serviceTypeAnnotation: 'networking.istio.io/service-type',
} as const;

/** `<gateway>-<class>`: the Deployment, Service and ServiceAccount Istio creates for a Gateway. */
export function istioGatewayDeploymentName(
  gateway: string,
  className: string = ISTIO_GATEWAY_DEPLOYMENT.className,
): string {
  return `${gateway}-${className}`;
}

/** Istio's extensions to Gateway API references used by the egress task. */
export const ISTIO_GATEWAY_API_EXTENSIONS = {
  /** A route parent that binds it to the sidecars for the ServiceEntry's hosts. */
  serviceEntryParent: { group: 'networking.istio.io', kind: 'ServiceEntry' },
  /** A backend naming an external host directly (the gateway's upstream is `outbound|PORT||HOST`). */
  hostnameBackend: { group: 'networking.istio.io', kind: 'Hostname' },
  /** Listener TLS option making a Terminate listener speak Istio mTLS with the sidecars. */
  tlsTerminateModeOption: 'gateway.istio.io/tls-terminate-mode',
  istioMutual: 'ISTIO_MUTUAL',
} as const;

/** Envoy route name Istio gives a Gateway API route rule: `<namespace>.<route>.<rule index>`. */
export function gatewayApiRouteName(namespace: string, route: string, index: number): string {
  return `${namespace}.${route}.${index}`;
}

/**
 * Status conditions the harness waits for before the first observation: a Gateway
 * `Programmed` (its deployment is ready and configured), each route `Accepted` and
 * `ResolvedRefs` under `status.parents[]` for each of its parents (not top-level
 * `status.conditions`, which is why `kubectl wait --for=condition=Accepted httproute/x` never
 * succeeds).
 */
export const GATEWAY_API_CONDITIONS = {
  gateway: ['Accepted', 'Programmed'],
  route: ['Accepted', 'ResolvedRefs'],
} as const;
