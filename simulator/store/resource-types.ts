/** The kinds the simulated API server serves: one table for discovery, routing and the store. */
import { crdName } from '../../harness/facts/custom-resources.ts';
import { GATEWAY_API_RELEASE } from '../../harness/facts/gateway-api.ts';

/** How the API server serves one kind: its REST names, scope and behaviour on writes. */
export interface ResourceType {
  kind: string;
  /**
   * The name the store and the mesh model list this kind by: the kind, or `Kind.group` where
   * another served group has the same kind (Gateway API's `Gateway.gateway.networking.k8s.io`
   * next to Istio's `Gateway`).
   */
  key: string;
  plural: string;
  singular: string;
  /** API group, '' for the core group. */
  group: string;
  /** Served versions, the preferred (and storage) version first. */
  versions: readonly string[];
  namespaced: boolean;
  /** Served from a CustomResourceDefinition: no strategic merge patch, typed list items. */
  custom: boolean;
  /** Configuration the data plane reads: visible in `viewAt` only after the propagation delay. */
  config: boolean;
  /** DELETE answers with the object (as pods, services do) instead of a `Status`. */
  returnsDeletedObject: boolean;
  /** `status` is a subresource: writes to the main resource keep the stored status. */
  hasStatus: boolean;
  /** Whether metadata.generation is maintained. */
  hasGeneration: boolean;
  nameRule: 'subdomain' | 'rfc1123-label' | 'rfc1035-label';
  verbs: readonly string[];
  shortNames?: readonly string[];
  categories?: readonly string[];
  /** False for request-only kinds such as SelfSubjectAccessReview. */
  stored: boolean;
  /**
   * The CustomResourceDefinition (`<plural>.<group>`) that must be installed for the kind to be
   * served; absent for kinds the server always serves (built-in ones, and Istio's, which every
   * simulated cluster has).
   */
  definedBy?: string;
}

const ALL_VERBS = [
  'create',
  'delete',
  'deletecollection',
  'get',
  'list',
  'patch',
  'update',
  'watch',
];
const ISTIO_NETWORKING_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'];
const ISTIO_SECURITY_VERSIONS = ['v1', 'v1beta1'];
// telemetry.istio.io serves v1 since Istio 1.22 and keeps v1alpha1 (ISTIO_ACCESS_LOGGING in
// harness/facts.ts; istio/istio manifests/charts/base/crds/crd-all.gen.yaml).
const ISTIO_TELEMETRY_VERSIONS = ['v1', 'v1alpha1'];

function builtin(
  kind: string,
  plural: string,
  group: string,
  fields: Partial<ResourceType> = {},
): ResourceType {
  return {
    kind,
    key: kind,
    plural,
    singular: kind.toLowerCase(),
    group,
    versions: ['v1'],
    namespaced: true,
    custom: false,
    config: false,
    returnsDeletedObject: false,
    hasStatus: false,
    hasGeneration: false,
    nameRule: 'subdomain',
    verbs: ALL_VERBS,
    stored: true,
    ...fields,
  };
}

function istio(kind: string, plural: string, group: string, shortNames: string[]): ResourceType {
  return builtin(kind, plural, group, {
    versions:
      group === 'security.istio.io'
        ? ISTIO_SECURITY_VERSIONS
        : group === 'telemetry.istio.io'
          ? ISTIO_TELEMETRY_VERSIONS
          : ISTIO_NETWORKING_VERSIONS,
    custom: true,
    config: true,
    hasStatus: true,
    hasGeneration: true,
    shortNames,
    categories: ['istio-io', `${group.split('.')[0] ?? ''}-istio-io`],
  });
}

/** A Gateway API kind (GATEWAY_API_VERSIONS in harness/facts/gateway-api.ts), status as a subresource. */
function gatewayApi(
  kind: string,
  plural: string,
  fields: Partial<ResourceType> = {},
): ResourceType {
  return builtin(kind, plural, GATEWAY_API_RELEASE.group, {
    versions: ['v1'],
    custom: true,
    config: true,
    hasStatus: true,
    hasGeneration: true,
    categories: ['gateway-api'],
    // Served only once its CRD is installed: a fresh kind cluster has none (the kind path applies them).
    definedBy: crdName(plural, GATEWAY_API_RELEASE.group),
    ...fields,
  });
}

/** Every kind the simulated API server knows, in discovery order. */
const DECLARED_TYPES: readonly ResourceType[] = [
  builtin('Namespace', 'namespaces', '', {
    namespaced: false,
    config: true,
    returnsDeletedObject: true,
    hasStatus: true,
    nameRule: 'rfc1123-label',
    shortNames: ['ns'],
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
  }),
  builtin('Node', 'nodes', '', { namespaced: false, hasStatus: true, shortNames: ['no'] }),
  builtin('Pod', 'pods', '', {
    returnsDeletedObject: true,
    hasStatus: true,
    hasGeneration: true,
    shortNames: ['po'],
    categories: ['all'],
  }),
  builtin('Service', 'services', '', {
    returnsDeletedObject: true,
    hasStatus: true,
    nameRule: 'rfc1035-label',
    shortNames: ['svc'],
    categories: ['all'],
    verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'],
  }),
  builtin('ServiceAccount', 'serviceaccounts', '', {
    returnsDeletedObject: true,
    shortNames: ['sa'],
  }),
  builtin('ConfigMap', 'configmaps', '', { config: true, shortNames: ['cm'] }),
  builtin('Secret', 'secrets', ''),
  builtin('Event', 'events', '', { shortNames: ['ev'] }),
  builtin('Deployment', 'deployments', 'apps', {
    hasStatus: true,
    hasGeneration: true,
    shortNames: ['deploy'],
    categories: ['all'],
  }),
  builtin('ReplicaSet', 'replicasets', 'apps', {
    hasStatus: true,
    hasGeneration: true,
    shortNames: ['rs'],
    categories: ['all'],
  }),
  builtin('NetworkPolicy', 'networkpolicies', 'networking.k8s.io', {
    config: true,
    hasGeneration: true,
    shortNames: ['netpol'],
  }),
  // Istio's gateway charts create one for a gateway of several replicas (GATEWAY_PDB); its
  // status comes from controllers/disruption.ts, evictions honour it (api/eviction.ts).
  builtin('PodDisruptionBudget', 'poddisruptionbudgets', 'policy', {
    hasStatus: true,
    hasGeneration: true,
    shortNames: ['pdb'],
  }),
  // Istio's injector webhooks: the simulated injector reads which revisions inject from them.
  builtin(
    'MutatingWebhookConfiguration',
    'mutatingwebhookconfigurations',
    'admissionregistration.k8s.io',
    {
      namespaced: false,
      hasGeneration: true,
    },
  ),
  // Kinds the Gateway API's standard-install.yaml holds besides the Gateway API's own: its CRDs
  // and the safe-upgrades ValidatingAdmissionPolicy with its binding (stored, not evaluated).
  builtin('CustomResourceDefinition', 'customresourcedefinitions', 'apiextensions.k8s.io', {
    namespaced: false,
    hasStatus: true,
    hasGeneration: true,
    shortNames: ['crd', 'crds'],
    categories: ['api-extensions'],
  }),
  builtin(
    'ValidatingAdmissionPolicy',
    'validatingadmissionpolicies',
    'admissionregistration.k8s.io',
    { namespaced: false, hasStatus: true, hasGeneration: true, categories: ['api-extensions'] },
  ),
  builtin(
    'ValidatingAdmissionPolicyBinding',
    'validatingadmissionpolicybindings',
    'admissionregistration.k8s.io',
    { namespaced: false, hasGeneration: true, categories: ['api-extensions'] },
  ),
  istio('ServiceEntry', 'serviceentries', 'networking.istio.io', ['se']),
  istio('Gateway', 'gateways', 'networking.istio.io', ['gw']),
  istio('VirtualService', 'virtualservices', 'networking.istio.io', ['vs']),
  istio('DestinationRule', 'destinationrules', 'networking.istio.io', ['dr']),
  istio('Sidecar', 'sidecars', 'networking.istio.io', []),
  istio('PeerAuthentication', 'peerauthentications', 'security.istio.io', ['pa']),
  istio('AuthorizationPolicy', 'authorizationpolicies', 'security.istio.io', ['ap']),
  istio('Telemetry', 'telemetries', 'telemetry.istio.io', ['telemetry']),
  gatewayApi('GatewayClass', 'gatewayclasses', { namespaced: false, shortNames: ['gc'] }),
  gatewayApi('Gateway', 'gateways', { shortNames: ['gtw'] }),
  gatewayApi('HTTPRoute', 'httproutes'),
  gatewayApi('TLSRoute', 'tlsroutes'),
  builtin('SelfSubjectAccessReview', 'selfsubjectaccessreviews', 'authorization.k8s.io', {
    namespaced: false,
    verbs: ['create'],
    stored: false,
  }),
];

/** Every kind the simulated API server knows, each with its store key. */
export const RESOURCE_TYPES: readonly ResourceType[] = DECLARED_TYPES.map((type, index) =>
  DECLARED_TYPES.slice(0, index).some((earlier) => earlier.kind === type.kind)
    ? { ...type, key: `${type.kind}.${type.group}` }
    : type,
);

const TYPES_BY_KEY = new Map(RESOURCE_TYPES.map((type) => [type.key, type]));

/** The type stored under `key` (a kind, or `Kind.group` for a kind two groups serve). */
export function resourceTypeForKind(key: string): ResourceType | undefined {
  return TYPES_BY_KEY.get(key);
}

/** The type of an object, by its kind and the group of its apiVersion. */
export function typeOfObject(object: {
  kind: string;
  apiVersion?: string;
}): ResourceType | undefined {
  const apiVersion = object.apiVersion ?? '';
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  return (
    RESOURCE_TYPES.find((type) => type.kind === object.kind && type.group === group) ??
    TYPES_BY_KEY.get(object.kind)
  );
}

/** The store key of an object (see ResourceType.key). */
export function storeKeyOf(object: { kind: string; apiVersion?: string }): string {
  return typeOfObject(object)?.key ?? object.kind;
}

/** The type of an object the store keeps; throws for unknown and request-only kinds. */
export function requireTypeOf(object: { kind: string; apiVersion?: string }): ResourceType {
  return requireType(storeKeyOf(object));
}

/** The type of a kind the store keeps; throws for unknown and request-only kinds. */
export function requireType(kind: string): ResourceType {
  const type = TYPES_BY_KEY.get(kind);
  if (type === undefined || !type.stored)
    throw new Error(`the simulated store has no kind ${kind}`);
  return type;
}

/** `pods`, `deployments.apps`: how NotFound/AlreadyExists messages name a resource. */
export function qualifiedResource(type: ResourceType): string {
  return type.group === '' ? type.plural : `${type.plural}.${type.group}`;
}

/** `Pod`, `Deployment.apps`: how Invalid messages name a kind. */
export function qualifiedKind(type: ResourceType): string {
  return type.group === '' ? type.kind : `${type.kind}.${type.group}`;
}

/** `apps/v1`, `v1`. */
export function groupVersion(group: string, version: string): string {
  return group === '' ? version : `${group}/${version}`;
}
