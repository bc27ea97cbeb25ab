/**
 * How the Kubernetes API server answers the clients people use by hand (kubectl 1.32 and
 * later), as the simulated API server models it. Each constant names its upstream source;
 * "1.32–1.36" means the release branches `release-1.32` … `release-1.36` of the named
 * repository (kubernetes/kubernetes is vendored as kubernetes/apiserver,
 * kubernetes/apiextensions-apiserver, kubernetes/apimachinery, kubernetes/api).
 */

/** One column of a `meta.k8s.io/v1` Table. */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format?: 'name';
  /** 1: shown by `kubectl get -o wide` only. */
  priority?: number;
  /** Custom resources: the column's JSONPath (a simple `.a.b` path). */
  jsonPath?: string;
}

const NAME: PrinterColumn = { name: 'Name', type: 'string', format: 'name' };
const AGE: PrinterColumn = { name: 'Age', type: 'string' };

/**
 * The server-side printer columns of the built-in kinds the simulated cluster serves.
 * Source: kubernetes/kubernetes `pkg/printers/internalversion/printers.go` `AddHandlers`
 * (podColumnDefinitions, deploymentColumnDefinitions, replicaSetColumnDefinitions, …).
 * Holds for: 1.32–1.36 (Pod's Restarts is a string "N (Xs ago)" since 1.28; Event's
 * columns were reordered in 1.26).
 */
export const BUILTIN_PRINTER_COLUMNS: Readonly<Record<string, readonly PrinterColumn[]>> = {
  Pod: [
    NAME,
    { name: 'Ready', type: 'string' },
    { name: 'Status', type: 'string' },
    { name: 'Restarts', type: 'string' },
    AGE,
    { name: 'IP', type: 'string', priority: 1 },
    { name: 'Node', type: 'string', priority: 1 },
    { name: 'Nominated Node', type: 'string', priority: 1 },
    { name: 'Readiness Gates', type: 'string', priority: 1 },
  ],
  Deployment: [
    NAME,
    { name: 'Ready', type: 'string' },
    { name: 'Up-to-date', type: 'string' },
    { name: 'Available', type: 'string' },
    AGE,
    { name: 'Containers', type: 'string', priority: 1 },
    { name: 'Images', type: 'string', priority: 1 },
    { name: 'Selector', type: 'string', priority: 1 },
  ],
  ReplicaSet: [
    NAME,
    { name: 'Desired', type: 'integer' },
    { name: 'Current', type: 'integer' },
    { name: 'Ready', type: 'integer' },
    AGE,
    { name: 'Containers', type: 'string', priority: 1 },
    { name: 'Images', type: 'string', priority: 1 },
    { name: 'Selector', type: 'string', priority: 1 },
  ],
  Service: [
    NAME,
    { name: 'Type', type: 'string' },
    { name: 'Cluster-IP', type: 'string' },
    { name: 'External-IP', type: 'string' },
    { name: 'Port(s)', type: 'string' },
    AGE,
    { name: 'Selector', type: 'string', priority: 1 },
  ],
  Namespace: [NAME, { name: 'Status', type: 'string' }, AGE],
  Node: [
    NAME,
    { name: 'Status', type: 'string' },
    { name: 'Roles', type: 'string' },
    AGE,
    { name: 'Version', type: 'string' },
    { name: 'Internal-IP', type: 'string', priority: 1 },
    { name: 'External-IP', type: 'string', priority: 1 },
    { name: 'OS-Image', type: 'string', priority: 1 },
    { name: 'Kernel-Version', type: 'string', priority: 1 },
    { name: 'Container-Runtime', type: 'string', priority: 1 },
  ],
  ConfigMap: [NAME, { name: 'Data', type: 'string' }, AGE],
  Secret: [NAME, { name: 'Type', type: 'string' }, { name: 'Data', type: 'string' }, AGE],
  ServiceAccount: [NAME, { name: 'Secrets', type: 'string' }, AGE],
  NetworkPolicy: [NAME, { name: 'Pod-Selector', type: 'string' }, AGE],
  // printPodDisruptionBudget: an unset minAvailable or maxUnavailable prints "N/A".
  PodDisruptionBudget: [
    NAME,
    { name: 'Min Available', type: 'string' },
    { name: 'Max Unavailable', type: 'string' },
    { name: 'Allowed Disruptions', type: 'integer' },
    AGE,
  ],
  Event: [
    { name: 'Last Seen', type: 'string' },
    { name: 'Type', type: 'string' },
    { name: 'Reason', type: 'string' },
    { name: 'Object', type: 'string' },
    { name: 'Subobject', type: 'string', priority: 1 },
    { name: 'Source', type: 'string', priority: 1 },
    { name: 'Message', type: 'string' },
    { name: 'First Seen', type: 'string', priority: 1 },
    { name: 'Count', type: 'string', priority: 1 },
    { name: 'Name', type: 'string', priority: 1, format: 'name' },
  ],
};

/**
 * The column every custom resource table starts with, and the one a CRD version without
 * `additionalPrinterColumns` gets. Source: kubernetes/apiextensions-apiserver
 * `pkg/registry/customresource/tableconvertor/tableconvertor.go` `New` (Name first) and
 * `pkg/apiserver/helpers.go` `serveDefaultColumnsIfEmpty` (Age). Holds for: 1.16–1.36.
 */
export const CRD_NAME_COLUMN: PrinterColumn = NAME;
export const CRD_DEFAULT_COLUMNS: readonly PrinterColumn[] = [
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

/**
 * `additionalPrinterColumns` of Istio's CRDs, identical in every served version.
 * Source: istio/istio `manifests/charts/base/files/crd-all.gen.yaml` (release-1.29,
 * release-1.30, release-1.31: unchanged). Gateway and Sidecar declare none, so they get
 * {@link CRD_DEFAULT_COLUMNS}.
 */
export const ISTIO_PRINTER_COLUMNS: Readonly<Record<string, readonly PrinterColumn[]>> = {
  ServiceEntry: [
    { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts' },
    { name: 'Location', type: 'string', jsonPath: '.spec.location' },
    { name: 'Resolution', type: 'string', jsonPath: '.spec.resolution' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  VirtualService: [
    { name: 'Gateways', type: 'string', jsonPath: '.spec.gateways' },
    { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  DestinationRule: [
    { name: 'Host', type: 'string', jsonPath: '.spec.host' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  AuthorizationPolicy: [
    { name: 'Action', type: 'string', jsonPath: '.spec.action' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  PeerAuthentication: [
    { name: 'Mode', type: 'string', jsonPath: '.spec.mtls.mode' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  Telemetry: [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }],
};

/**
 * A watch asked for as a Table carries the column definitions in its first event only.
 * Source: kubernetes/apiserver `pkg/endpoints/handlers/response.go` (watchEmbeddedEncoder
 * sets `tableOptions.NoHeaders = true` after the first object). Holds for: 1.28–1.36.
 */
export const TABLE_WATCH_HEADERS = 'first-event-only';

/** `includeObject` of a Table request when the client names none: rows carry PartialObjectMetadata. Source: response.go `asTable`. */
export const TABLE_DEFAULT_INCLUDE_OBJECT = 'Metadata';

/**
 * The list-merge keys and strategies of strategic merge patch on the built-in kinds served
 * (path of the list below the object root, `*` for any list item).
 * Source: kubernetes/api `core/v1/types.go`, `apps/v1/types.go` (`patchStrategy`,
 * `patchMergeKey` struct tags) and kubernetes/apimachinery `pkg/apis/meta/v1/types.go`
 * (ownerReferences by uid, finalizers merged as a set). Holds for: 1.32–1.36 (ServicePort's
 * merge key is `port` alone, a known upstream quirk).
 */
export const STRATEGIC_MERGE_LISTS: readonly {
  path: string;
  strategy: 'merge' | 'merge,retainKeys';
  key?: string;
}[] = [
  { path: 'metadata.ownerReferences', strategy: 'merge', key: 'uid' },
  { path: 'metadata.finalizers', strategy: 'merge' },
  ...['spec', 'spec.template.spec'].flatMap((pod) => [
    { path: `${pod}.volumes`, strategy: 'merge,retainKeys' as const, key: 'name' },
    { path: `${pod}.initContainers`, strategy: 'merge' as const, key: 'name' },
    { path: `${pod}.containers`, strategy: 'merge' as const, key: 'name' },
    { path: `${pod}.ephemeralContainers`, strategy: 'merge' as const, key: 'name' },
    { path: `${pod}.imagePullSecrets`, strategy: 'merge' as const, key: 'name' },
    { path: `${pod}.hostAliases`, strategy: 'merge' as const, key: 'ip' },
    { path: `${pod}.topologySpreadConstraints`, strategy: 'merge' as const, key: 'topologyKey' },
    { path: `${pod}.schedulingGates`, strategy: 'merge' as const, key: 'name' },
    { path: `${pod}.resourceClaims`, strategy: 'merge,retainKeys' as const, key: 'name' },
    ...['containers', 'initContainers', 'ephemeralContainers'].flatMap((list) => [
      { path: `${pod}.${list}.*.ports`, strategy: 'merge' as const, key: 'containerPort' },
      { path: `${pod}.${list}.*.env`, strategy: 'merge' as const, key: 'name' },
      { path: `${pod}.${list}.*.volumeMounts`, strategy: 'merge' as const, key: 'mountPath' },
      { path: `${pod}.${list}.*.volumeDevices`, strategy: 'merge' as const, key: 'devicePath' },
    ]),
  ]),
  { path: 'spec.ports', strategy: 'merge', key: 'port' },
  { path: 'secrets', strategy: 'merge', key: 'name' },
  { path: 'status.conditions', strategy: 'merge', key: 'type' },
  { path: 'status.podIPs', strategy: 'merge', key: 'ip' },
  { path: 'status.hostIPs', strategy: 'merge', key: 'ip' },
  { path: 'status.addresses', strategy: 'merge', key: 'type' },
];

/** Structs whose patch strategy is `retainKeys` (a union: unset members are dropped). Source: kubernetes/api `apps/v1/types.go` `DeploymentSpec.Strategy`. */
export const STRATEGIC_MERGE_RETAIN_KEYS: readonly string[] = ['spec.strategy'];

/**
 * kubectl (1.27+) sends `fieldValidation=Strict` and skips its own schema validation when
 * the server's OpenAPI v3 document lists a `fieldValidation` query parameter on the kind's
 * PATCH operation; a strict decoding failure is a 400 "<Kind> in version "<v>" cannot be
 * handled as a <Kind>: strict decoding error: unknown field "<path>"".
 * Source: kubernetes/cli-runtime `pkg/resource/query_param_verifier_v3.go`
 * (`supportsQueryParamV3`), kubernetes/kubectl `pkg/cmd/util/factory_client_access.go`
 * (`Validator`), kubernetes/apiserver `pkg/endpoints/handlers/rest.go`
 * (`transformDecodeError`), kubernetes/apimachinery `pkg/runtime/error.go`. Holds for:
 * kubectl 1.27–1.36, API servers 1.27–1.36.
 */
export const FIELD_VALIDATION = {
  queryParameter: 'fieldValidation',
  values: ['Ignore', 'Warn', 'Strict'],
  strictPrefix: 'strict decoding error: ',
} as const;

/**
 * kubectl's typed clients (`create namespace|secret|configmap|serviceaccount`) send
 * protobuf: the 4-byte magic `k8s\0`, then a `runtime.Unknown` (typeMeta = 1 {apiVersion = 1,
 * kind = 2}, raw = 2, contentEncoding = 3, contentType = 4) whose raw is the object.
 * client-go does not fall back to JSON on 415 for protobuf (only for CBOR).
 * Source: kubernetes/apimachinery `pkg/runtime/serializer/protobuf/protobuf.go`
 * (protoEncodingPrefix), `pkg/runtime/generated.proto`, `pkg/apis/meta/v1/generated.proto`
 * (ObjectMeta), kubernetes/api `core/v1/generated.proto`; kubernetes/client-go
 * `rest/client.go` (`UnsupportedMediaType`: CBOR only). Holds for: 1.32–1.36.
 */
export const PROTOBUF = {
  contentType: 'application/vnd.kubernetes.protobuf',
  magic: [0x6b, 0x38, 0x73, 0x00],
} as const;

/**
 * CEL `x-kubernetes-validations` failures on a custom resource read
 * `<path>: Invalid value: <value>: <message>`: up to 1.34 the value is the schema type
 * (`"object"`, `"string"`); from 1.35 it is the value itself for scalars and omitted for
 * objects and arrays. Source: kubernetes/apiextensions-apiserver
 * `pkg/apiserver/schema/cel/validation.go` (release-1.34: `sts.Type`; release-1.35:
 * `field.OmitValueType{}`), kubernetes/apimachinery `pkg/util/validation/field/errors.go`.
 */
export const CEL_ERROR_VALUE = { actualValueSinceMinor: 35 } as const;

/**
 * A rejection by a validating admission webhook: code 400 unless the webhook set one,
 * status Failure, no reason, message `admission webhook "<name>" denied the request: <the
 * webhook's message>`. Source: kubernetes/apiserver
 * `pkg/admission/plugin/webhook/errors/statuserror.go` (`ToStatusErr`). Holds for: 1.16–1.36.
 * Webhooks run after the object passed schema validation (`rest.BeforeCreate` then
 * `createValidation` in `pkg/registry/generic/registry/store.go`).
 */
export function webhookDenial(webhook: string, message: string): string {
  return `admission webhook "${webhook}" denied the request: ${message}`;
}

/**
 * An update that changes nothing is not written: the resourceVersion stays and no watch
 * event is sent. Source: kubernetes/apiserver `pkg/storage/etcd3/store.go`
 * (`GuaranteedUpdate`: `bytes.Equal(data, origState.data)` returns the stored object).
 * Holds for: 1.9–1.36.
 */
export const NO_OP_UPDATE_KEEPS_RESOURCE_VERSION = true;

/**
 * Optimistic concurrency: a write whose object carries `metadata.resourceVersion` (a PUT, or
 * a patch whose body sets it, which the server applies to the stored object before the
 * check) succeeds only if that is still the stored resourceVersion; otherwise 409, reason
 * `Conflict`, message `Operation cannot be fulfilled on <resource> "<name>": <message>`, and
 * the client is to GET again, redo its change and resubmit. Without a resourceVersion a
 * patch is unconditional. Sources: kubernetes/community
 * `contributors/devel/sig-architecture/api-conventions.md` ("Concurrency Control and
 * Consistency", at 24e7d8f5); kubernetes/apiserver `pkg/registry/generic/registry/store.go`
 * (`Update`: `newResourceVersion != existingResourceVersion` returns
 * `apierrors.NewConflict(…, OptimisticLockErrorMsg)`, at 24a394e5). Holds for: 1.9–1.36.
 */
export const OPTIMISTIC_CONCURRENCY = {
  code: 409,
  reason: 'Conflict',
  message:
    'the object has been modified; please apply your changes to the latest version and try again',
} as const;

/**
 * A watch from a resourceVersion older than the server still remembers ends with an ERROR
 * event carrying a 410 `Expired` Status: "too old resource version: <asked> (<oldest - 1>)".
 * Source: kubernetes/apiserver `pkg/storage/cacher/watch_cache.go` (`getAllEventsSinceLocked`,
 * `errors.NewResourceExpired`). Holds for: 1.16–1.36.
 */
export function tooOldResourceVersion(asked: string, oldestKnown: number): string {
  return `too old resource version: ${asked} (${oldestKnown - 1})`;
}

/**
 * The JSON fields of the served built-in kinds' top level and of ObjectMeta; any other is an
 * unknown field (dropped, warned about by default, refused with `fieldValidation=Strict`).
 * Source: kubernetes/api `core/v1/types.go`, `apps/v1/types.go`, `networking/v1/types.go`
 * (NetworkPolicy has no status since 1.28) and kubernetes/apimachinery
 * `pkg/apis/meta/v1/types.go` (ObjectMeta), release-1.36.
 */
export const KNOWN_TOP_LEVEL_FIELDS: Readonly<Record<string, readonly string[]>> = {
  ConfigMap: ['immutable', 'data', 'binaryData'],
  Secret: ['immutable', 'data', 'stringData', 'type'],
  ServiceAccount: ['secrets', 'imagePullSecrets', 'automountServiceAccountToken'],
  NetworkPolicy: ['spec'],
  Event: [
    'involvedObject',
    'reason',
    'message',
    'source',
    'firstTimestamp',
    'lastTimestamp',
    'count',
    'type',
    'eventTime',
    'series',
    'action',
    'related',
    'reportingComponent',
    'reportingInstance',
  ],
  SelfSubjectAccessReview: ['spec', 'status'],
};

/** Top-level fields of every other kind (Pod, Service, Namespace, Node, Deployment, ReplicaSet, custom resources). */
export const DEFAULT_TOP_LEVEL_FIELDS: readonly string[] = ['spec', 'status'];

export const OBJECT_META_FIELDS: readonly string[] = [
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
];

/**
 * `kubectl rollout restart`: it sets the pod template annotation
 * `kubectl.kubernetes.io/restartedAt` to the current time (`time.RFC3339`, whole seconds), a
 * template change the Deployment controller rolls out like any other. The harness writes the
 * same annotation with milliseconds (an ISO 8601 time, still RFC 3339): two restarts of one
 * Deployment within a second would otherwise write the same value and roll nothing the second
 * time. Source: kubernetes/kubectl `pkg/polymorphichelpers/objectrestarter.go`
 * (`defaultObjectRestarter`). Holds for: release-1.32 to release-1.36.
 */
export const KUBECTL_ROLLOUT_RESTART = {
  annotation: 'kubectl.kubernetes.io/restartedAt',
  source: 'kubernetes/kubectl pkg/polymorphichelpers/objectrestarter.go (release-1.32–1.36)',
} as const;
