/**
 * How an Istio install is laid out in a cluster, per control-plane revision and namespace,
 * and the cluster shapes real installs take that the pinned defaults do not produce. The
 * simulated cluster builds its installs and its injector from these; the harness's
 * detection reads the same objects (harness/istio/detect.ts).
 *
 * Sources (istio/istio, checked at tag 1.30.3 and master of 2026-08-22, identical between):
 * `manifests/charts/istio-control/istio-discovery/templates/{deployment,service,configmap,
 * mutatingwebhook,revision-tags-mwc}.yaml`, `.../files/injection-template.yaml`,
 * `manifests/charts/gateways/istio-egress/{values.yaml,templates/deployment.yaml}`.
 * Holds for: Istio 1.6 onwards (revisions), unchanged in 1.27–1.31.
 */
import { INJECTION } from './injection.ts';

/** The suffix a revision adds to the control plane's object names: `""` or `-<revision>`. */
export function revisionSuffix(revision: string | undefined): string {
  return !revision || revision === INJECTION.defaultRevision ? '' : `-${revision}`;
}

/**
 * The names and labels of one revision's control plane:
 * - Deployment and Service `istiod{-rev}` labelled `app: istiod`, `istio.io/rev: <rev or
 *   "default">`; the Service selects `app: istiod` (plus `istio.io/rev` for a revision), and
 *   a revision's pods carry `istio: istiod` where the default revision's carry `istio: pilot`
 *   (`deployment.yaml`, `service.yaml`);
 * - the mesh config in ConfigMap `istio{-rev}`, key `mesh`, with
 *   `defaultConfig.discoveryAddress: istiod{-rev}.<namespace>.svc:15012` (`configmap.yaml`);
 * - the injector's MutatingWebhookConfiguration `istio-sidecar-injector{-rev}` (with
 *   `-<namespace>` appended outside istio-system), labelled `app: sidecar-injector` and
 *   `istio.io/rev`, calling Service `istiod{-rev}` on port 443 (`mutatingwebhook.yaml`);
 * - a revision tag's webhook `istio-revision-tag-<tag>` labelled `istio.io/tag: <tag>` and
 *   the revision's `istio.io/rev` (`revision-tags-mwc.yaml`); the `default` tag is what lets
 *   a revision inject namespaces labelled `istio-injection=enabled` (INJECTION);
 * - sidecars and gateways reach istiod for certificates and xDS at `CA_ADDR`,
 *   `istiod{-rev}.<istioNamespace>.svc:15012` (`injection-template.yaml`, the egress
 *   gateway's `deployment.yaml`), port 15012 being the Service's TLS xDS port (`https-dns`).
 */
export const ISTIO_CONTROL_PLANE = {
  defaultNamespace: 'istio-system',
  appLabel: { key: 'app', value: 'istiod' },
  revisionLabel: INJECTION.revisionLabel,
  /** `istio` label of istiod's pods: `pilot` for the default revision, `istiod` for another. */
  podIstioLabel: { default: 'pilot', revision: 'istiod' },
  xdsTlsPort: 15012,
  injectorWebhook: {
    prefix: 'istio-sidecar-injector',
    appLabel: { key: 'app', value: 'sidecar-injector' },
    servicePort: 443,
  },
  revisionTag: { prefix: 'istio-revision-tag-', label: 'istio.io/tag', default: 'default' },
  source:
    'istio/istio manifests/charts/istio-control/istio-discovery/templates/{deployment,service,configmap,mutatingwebhook,revision-tags-mwc}.yaml, files/injection-template.yaml (1.27–1.31)',
} as const;

/** `istiod` or `istiod-<revision>`: the Deployment and the Service of the revision. */
export function istiodName(revision: string | undefined): string {
  return `istiod${revisionSuffix(revision)}`;
}

/** `istio` or `istio-<revision>`: the ConfigMap holding the revision's mesh config. */
export function meshConfigMapName(revision: string | undefined): string {
  return `istio${revisionSuffix(revision)}`;
}

/** The revision's injector webhook configuration name. */
export function injectorWebhookName(revision: string | undefined, namespace: string): string {
  const base = `${ISTIO_CONTROL_PLANE.injectorWebhook.prefix}${revisionSuffix(revision)}`;
  return namespace === ISTIO_CONTROL_PLANE.defaultNamespace ? base : `${base}-${namespace}`;
}

/** Where the revision's proxies reach istiod (`CA_ADDR`, `discoveryAddress`). */
export function istiodAddress(revision: string | undefined, namespace: string): string {
  return `${istiodName(revision)}.${namespace}.svc:${ISTIO_CONTROL_PLANE.xdsTlsPort}`;
}

/**
 * A revision for a canary control plane, as Istio's canary-upgrade page installs it
 * (`istioctl install --set revision=canary`; istio/istio.io
 * `content/en/docs/setup/upgrade/canary/index.md`): Deployment and Service
 * `istiod-canary` beside (or instead of) `istiod`.
 */
export const CANARY_REVISION = 'canary';

/**
 * The namespace of an egress gateway installed apart from istiod. Istio's egress-gateway
 * chart says it "Should be installed in a separate namespace, to minimize access to config"
 * (istio/istio `manifests/charts/gateways/istio-egress/values.yaml`), and Istio's own egress
 * material names that namespace `istio-egress` (istio/istio.io blog "Routing egress traffic
 * to wildcard destinations", `kubectl create namespace istio-egress`). The chart labels the
 * gateway's pods `istio.io/rev: <rev or "default">` and adds `heritage`, `release` and
 * `chart` only in istio-system (`templates/deployment.yaml`).
 */
export const SEPARATE_EGRESS_GATEWAY_NAMESPACE = 'istio-egress';

/**
 * A mesh-wide Telemetry resource that switches on access logging with the built-in `envoy`
 * provider, as Istio's access-log task applies it instead of `meshConfig.accessLogFile`
 * (istio/istio.io `content/en/docs/tasks/observability/logs/access-log/index.md`, "Using
 * Telemetry API"; the task shows `v1alpha1`, `v1` is served from Istio 1.22, see
 * ISTIO_ACCESS_LOGGING). Istio's default install profile leaves `accessLogFile` empty.
 */
export const MESH_DEFAULT_ACCESS_LOG_TELEMETRY = Object.freeze({
  apiVersion: 'telemetry.istio.io/v1',
  kind: 'Telemetry',
  name: 'mesh-default',
  spec: Object.freeze({ accessLogging: Object.freeze([{ providers: [{ name: 'envoy' }] }]) }),
  source: 'istio/istio.io content/en/docs/tasks/observability/logs/access-log/index.md',
});

/**
 * A Kubernetes release below native sidecars' minimum (NATIVE_SIDECARS: 1.33) that every
 * supported Istio minor still supports (Istio 1.29: Kubernetes 1.31–1.35; 1.30 and 1.31:
 * 1.32–1.36, istio.io "Supported Releases"), with the kind node image kind v0.27.0 published
 * for it (kubernetes-sigs/kind release v0.27.0 notes, the image list). On it Istio's injector
 * renders the classic layout: `istio-proxy` in `spec.containers`.
 */
export const CLASSIC_SIDECAR_KUBERNETES = Object.freeze({
  version: 'v1.32.2',
  kindNodeImage:
    'kindest/node:v1.32.2@sha256:f226345927d7e348497136874b6d207e0b32cc52154ad8323129352923a3142f',
  source:
    'kubernetes-sigs/kind release v0.27.0 (images); istio.io docs/releases/supported-releases',
});

/**
 * A Kubernetes release the oldest supported Istio minor runs on (1.29: 1.31–1.35, istio.io
 * "Supported Releases") but the newer ones' `istioctl x precheck` refuses (its minimum is 1.32
 * for 1.30 and 1.31: ISTIOCTL_PRECHECK): an upgrade from 1.29 on it must stop before anything
 * changes. The kind node image is the one kind v0.25.0 made its default
 * (kubernetes-sigs/kind v0.25.0 `pkg/apis/config/defaults/image.go`).
 */
export const KUBERNETES_BELOW_PRECHECK_MINIMUM = Object.freeze({
  version: 'v1.31.2',
  kindNodeImage:
    'kindest/node:v1.31.2@sha256:18fbefc20a7113353c7b75b5c869d7145a6abd6269154825872dc59c1329912e',
  source:
    'kubernetes-sigs/kind v0.25.0 pkg/apis/config/defaults/image.go; istio.io docs/releases/supported-releases',
});

/**
 * The service account of the egress gateway Istio's installer deploys:
 * `{{ $gateway.name }}-service-account`, the gateway being named `istio-egressgateway`
 * (istio/istio `manifests/charts/gateways/istio-egress/templates/serviceaccount.yaml` and
 * `templates/deployment.yaml` `serviceAccountName`, `values.yaml` `name:
 * istio-egressgateway`; checked at tags 1.27.0, 1.28.0, 1.29.0, 1.30.3 and master of
 * 2026-08-22). Its workload certificate names it (WORKLOAD_IDENTITY).
 */
export const ISTIO_EGRESS_GATEWAY_SERVICE_ACCOUNT = 'istio-egressgateway-service-account';

/**
 * The identity istiod's CA writes into a workload certificate's URI SAN, and the trust
 * domain it uses when the mesh config sets none:
 * - `spiffe://<trust domain>/ns/<namespace>/sa/<service account>` (istio/istio
 *   `pkg/spiffe/spiffe.go`, `Identity.String` and `genSpiffeURI`);
 * - `meshConfig.trustDomain` defaults to `cluster.local` (`pkg/config/mesh/mesh.go`
 *   `DefaultMeshConfig`, `TrustDomain: constants.DefaultClusterLocalDomain`,
 *   `pkg/config/constants/constants.go`), read from the `mesh` key of the revision's
 *   ConfigMap (meshConfigMapName).
 * Checked at tags 1.27.0–1.30.3 and master of 2026-08-22. The page's troubleshooting step
 * shows `spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account`.
 */
export const WORKLOAD_IDENTITY = {
  defaultTrustDomain: 'cluster.local',
  source: 'istio/istio pkg/spiffe/spiffe.go, pkg/config/mesh/mesh.go (1.27–1.31)',
} as const;

/** `spiffe://<trust domain>/ns/<namespace>/sa/<service account>` (WORKLOAD_IDENTITY). */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}
