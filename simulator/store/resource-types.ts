/** The kinds the simulated API server serves: one table for discovery, routing and the store. */

/** How the API server serves one kind: its REST names, scope and behaviour on writes. */
export interface ResourceType {
  kind: string;
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

/** Every kind the simulated API server knows, in discovery order. */
export const RESOURCE_TYPES: readonly ResourceType[] = [
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
  istio('ServiceEntry', 'serviceentries', 'networking.istio.io', ['se']),
  istio('Gateway', 'gateways', 'networking.istio.io', ['gw']),
  istio('VirtualService', 'virtualservices', 'networking.istio.io', ['vs']),
  istio('DestinationRule', 'destinationrules', 'networking.istio.io', ['dr']),
  istio('Sidecar', 'sidecars', 'networking.istio.io', []),
  istio('PeerAuthentication', 'peerauthentications', 'security.istio.io', ['pa']),
  istio('AuthorizationPolicy', 'authorizationpolicies', 'security.istio.io', ['ap']),
  istio('Telemetry', 'telemetries', 'telemetry.istio.io', ['telemetry']),
  builtin('SelfSubjectAccessReview', 'selfsubjectaccessreviews', 'authorization.k8s.io', {
    namespaced: false,
    verbs: ['create'],
    stored: false,
  }),
];

const TYPES_BY_KIND = new Map(RESOURCE_TYPES.map((type) => [type.kind, type]));

/** The type serving `kind`, if the simulated API server knows it. */
export function resourceTypeForKind(kind: string): ResourceType | undefined {
  return TYPES_BY_KIND.get(kind);
}

/** The type of a kind the store keeps; throws for unknown and request-only kinds. */
export function requireType(kind: string): ResourceType {
  const type = TYPES_BY_KIND.get(kind);
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
