/**
 * Istio's Gateway API controller as far as the egress task needs it: a Gateway of class
 * `istio` gets a ServiceAccount, Deployment and Service `<name>-istio` in its namespace, in
 * the shape of istio/istio `kube-gateway.yaml` (ISTIO_GATEWAY_DEPLOYMENT), the pods running
 * the proxy as a gateway (`router`); the Gateway's status says Accepted and, once a pod is
 * ready, Programmed; each HTTPRoute/TLSRoute gets Accepted and ResolvedRefs per parent.
 * The data plane's view of these objects is simulator/mesh/gateway-api.ts.
 */
import {
  GATEWAY_API_CONDITIONS,
  ISTIO_GATEWAY_API_EXTENSIONS,
  ISTIO_GATEWAY_DEPLOYMENT,
  istioGatewayDeploymentName,
} from '../../harness/facts/gateway-api.ts';
import { PROXY_CONTAINER } from '../../harness/facts.ts';
import { istiodAddress } from '../../harness/facts/istio-install.ts';
import { asArray, asRecord, rfc3339, text, type Json } from '../json.ts';
import type { StoreEvent } from '../store/object-store.ts';
import type { KubeObject } from '../types.ts';
import type { ControllerContext } from './context.ts';
import { injectingRevisions } from './injector.ts';
import { isPodReady } from './kubelet.ts';
import { controllerReference } from './ownership.ts';

/** Store keys of the Gateway API kinds (simulator/store/resource-types.ts). */
export const GATEWAY_KEY = 'Gateway.gateway.networking.k8s.io';
export const ROUTE_KINDS = ['HTTPRoute', 'TLSRoute'] as const;

/** Kinds whose changes can change what this controller writes. */
export const GATEWAY_API_WATCHED = [
  GATEWAY_KEY,
  ...ROUTE_KINDS,
  'ServiceEntry',
  'Service',
  'Pod',
] as const;

/** What the controller does wrong on purpose (simulated-cluster faults). */
export interface GatewayControllerFaults {
  /** `gateway-not-programmed`: the Gateway never reports Programmed=True. */
  neverProgrammed: boolean;
}

interface Condition {
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
}

function isIstioGateway(gateway: KubeObject): boolean {
  return text(asRecord(gateway.spec).gatewayClassName) === ISTIO_GATEWAY_DEPLOYMENT.className;
}

function conditions(
  previous: unknown,
  wanted: Condition[],
  generation: unknown,
  now: string,
): Json[] {
  const before = asArray(previous);
  return wanted.map((condition) => {
    const old = before.find((entry) => entry.type === condition.type);
    const unchanged = old?.status === condition.status && old.reason === condition.reason;
    return {
      ...condition,
      observedGeneration: generation,
      lastTransitionTime: unchanged ? (old.lastTransitionTime ?? now) : now,
    };
  });
}

/** The objects Istio's deployment controller renders for one Gateway. */
function deploymentObjects(context: ControllerContext, gateway: KubeObject): KubeObject[] {
  const namespace = gateway.metadata.namespace ?? 'default';
  const name = istioGatewayDeploymentName(gateway.metadata.name);
  const { gatewayNameLabel, gatewayClassNameLabel, managedLabel, serviceTypeAnnotation } =
    ISTIO_GATEWAY_DEPLOYMENT;
  const labels = {
    [gatewayNameLabel]: gateway.metadata.name,
    [gatewayClassNameLabel]: ISTIO_GATEWAY_DEPLOYMENT.className,
  };
  const owner = [controllerReference(gateway)];
  const revision = injectingRevisions(context.store)[0];
  const istiod =
    revision === undefined
      ? undefined
      : context.store.get('Deployment', revision.istiod.namespace, revision.istiod.name);
  const istiodImage = text(
    asArray(asRecord(asRecord(asRecord(istiod?.spec).template).spec).containers)[0]?.image,
  );
  const proxyImage = istiodImage.replace(/\/pilot:/, '/proxyv2:') || 'istio/proxyv2';
  const listeners = asArray(asRecord(gateway.spec).listeners);
  const seen = new Set<number>();
  const ports = listeners.flatMap((listener) => {
    const port = Number(listener.port);
    if (!Number.isInteger(port) || seen.has(port)) return [];
    seen.add(port);
    return [
      {
        name: text(listener.name) || `port-${port}`,
        port,
        protocol: 'TCP',
        appProtocol: text(listener.protocol).toLowerCase(),
      },
    ];
  });
  return [
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name, namespace, labels, ownerReferences: owner },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name,
        namespace,
        labels: { ...labels, [managedLabel.key]: managedLabel.value },
        ownerReferences: owner,
      },
      spec: {
        replicas: 1,
        selector: { matchLabels: { [gatewayNameLabel]: gateway.metadata.name } },
        template: {
          metadata: {
            labels: {
              'sidecar.istio.io/inject': 'false',
              'service.istio.io/canonical-name': name,
              'service.istio.io/canonical-revision': 'latest',
              ...labels,
              [managedLabel.key]: managedLabel.value,
            },
            annotations: { 'istio.io/rev': revision?.revision ?? 'default' },
          },
          spec: {
            serviceAccountName: name,
            containers: [
              {
                name: PROXY_CONTAINER,
                image: proxyImage,
                args: ['proxy', 'router', '--domain', '$(POD_NAMESPACE).svc.cluster.local'],
                env: [
                  {
                    name: 'CA_ADDR',
                    value: istiodAddress(
                      revision?.revision,
                      revision?.istiod.namespace ?? 'istio-system',
                    ),
                  },
                ],
                ports: [{ containerPort: 15021, name: 'status-port', protocol: 'TCP' }],
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels, ownerReferences: owner },
      spec: {
        type: gateway.metadata.annotations?.[serviceTypeAnnotation] ?? 'LoadBalancer',
        selector: { [gatewayNameLabel]: gateway.metadata.name },
        ports: [
          { name: 'status-port', port: 15021, protocol: 'TCP', appProtocol: 'tcp' },
          ...ports,
        ],
      },
    },
  ];
}

function ensure(context: ControllerContext, object: KubeObject): void {
  const { store } = context;
  const key = object.kind;
  const existing = store.get(key, object.metadata.namespace, object.metadata.name);
  if (existing === undefined) {
    store.create(object);
    return;
  }
  store.modify(key, object.metadata.namespace, object.metadata.name, (draft) => {
    draft.metadata.labels = { ...draft.metadata.labels, ...object.metadata.labels };
    if (object.kind !== 'ServiceAccount') {
      // The Service keeps its allocated clusterIP: only the fields the template owns change.
      const spec = asRecord(draft.spec);
      draft.spec = {
        ...spec,
        ...asRecord(object.spec),
        ...pick(spec, ['clusterIP', 'clusterIPs']),
      };
    }
  });
}

function pick(record: Json, keys: string[]): Json {
  return Object.fromEntries(keys.filter((key) => key in record).map((key) => [key, record[key]]));
}

function reconcileGateway(
  context: ControllerContext,
  gateway: KubeObject,
  faults: GatewayControllerFaults,
): void {
  const { store } = context;
  if (!isIstioGateway(gateway) || gateway.metadata.deletionTimestamp !== undefined) return;
  const namespace = gateway.metadata.namespace ?? 'default';
  for (const object of deploymentObjects(context, gateway)) ensure(context, object);
  const ready = store
    .list('Pod', {
      namespace,
      labelSelector: `${ISTIO_GATEWAY_DEPLOYMENT.gatewayNameLabel}=${gateway.metadata.name}`,
    })
    .some(isPodReady);
  const programmed = ready && !faults.neverProgrammed;
  const now = rfc3339(store.now());
  const wanted: Condition[] = [
    { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Resource accepted' },
    programmed
      ? {
          type: 'Programmed',
          status: 'True',
          reason: 'Programmed',
          message: `Resource programmed, assigned to service(s) ${istioGatewayDeploymentName(gateway.metadata.name)}.${namespace}.svc.cluster.local`,
        }
      : {
          type: 'Programmed',
          status: 'False',
          reason: 'NoResources',
          message: `Deployment ${namespace}/${istioGatewayDeploymentName(gateway.metadata.name)} has no ready replica`,
        },
  ];
  store.modify(GATEWAY_KEY, namespace, gateway.metadata.name, (draft) => {
    const status = asRecord(draft.status);
    draft.status = {
      ...status,
      conditions: conditions(status.conditions, wanted, draft.metadata.generation, now),
    };
  });
}

/** Why a parent does not accept the route, or undefined when it does. */
function parentProblem(
  context: ControllerContext,
  namespace: string,
  parent: Json,
): string | undefined {
  const kind = text(parent.kind) || 'Gateway';
  const name = text(parent.name);
  const parentNamespace = text(parent.namespace) || namespace;
  if (kind === ISTIO_GATEWAY_API_EXTENSIONS.serviceEntryParent.kind) {
    return context.store.get('ServiceEntry', parentNamespace, name) === undefined
      ? `ServiceEntry ${parentNamespace}/${name} not found`
      : undefined;
  }
  const gateway = context.store.get(GATEWAY_KEY, parentNamespace, name);
  if (gateway === undefined) return `Gateway ${parentNamespace}/${name} not found`;
  if (!isIstioGateway(gateway)) return `Gateway ${parentNamespace}/${name} is not of class istio`;
  return undefined;
}

/** Why a backend does not resolve, or undefined when it does. */
function backendProblem(
  context: ControllerContext,
  namespace: string,
  backend: Json,
): string | undefined {
  const kind = text(backend.kind) || 'Service';
  const name = text(backend.name);
  if (kind === ISTIO_GATEWAY_API_EXTENSIONS.hostnameBackend.kind) {
    const known = context.store.list('ServiceEntry').some((entry) => {
      const hosts = asRecord(entry.spec).hosts;
      return Array.isArray(hosts) && hosts.includes(name);
    });
    return known ? undefined : `backend(${name}) not found`;
  }
  const backendNamespace = text(backend.namespace) || namespace;
  return context.store.get('Service', backendNamespace, name) === undefined
    ? `backend(${name}.${backendNamespace}.svc.cluster.local) not found`
    : undefined;
}

function reconcileRoute(context: ControllerContext, kind: string, route: KubeObject): void {
  const { store } = context;
  if (route.metadata.deletionTimestamp !== undefined) return;
  const namespace = route.metadata.namespace ?? 'default';
  const spec = asRecord(route.spec);
  const backends = asArray(spec.rules).flatMap((rule) => asArray(rule.backendRefs));
  const unresolved = backends
    .map((backend) => backendProblem(context, namespace, backend))
    .find((problem) => problem !== undefined);
  const now = rfc3339(store.now());
  store.modify(kind, namespace, route.metadata.name, (draft) => {
    const previous = asArray(asRecord(draft.status).parents);
    const parents = asArray(spec.parentRefs).map((parent) => {
      const problem = parentProblem(context, namespace, parent);
      const old = previous.find(
        (entry) => JSON.stringify(entry.parentRef) === JSON.stringify(parent),
      );
      const wanted: Condition[] = [
        problem === undefined
          ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Route was valid' }
          : { type: 'Accepted', status: 'False', reason: 'NoMatchingParent', message: problem },
        unresolved === undefined
          ? {
              type: 'ResolvedRefs',
              status: 'True',
              reason: 'ResolvedRefs',
              message: 'All references resolved',
            }
          : {
              type: 'ResolvedRefs',
              status: 'False',
              reason: 'BackendNotFound',
              message: unresolved,
            },
      ];
      return {
        parentRef: parent,
        controllerName: ISTIO_GATEWAY_DEPLOYMENT.controllerName,
        conditions: conditions(old?.conditions, wanted, draft.metadata.generation, now),
      };
    });
    draft.status = { ...asRecord(draft.status), parents };
  });
}

/** Reconciles every Gateway API object after a change that may concern them. */
export function onGatewayApiEvent(
  context: ControllerContext,
  event: StoreEvent,
  faults: GatewayControllerFaults,
): void {
  // Deleted gateways and routes need nothing: their dependents go with their owner.
  if (event.type === 'DELETED' && event.object.kind !== 'Pod') return;
  const { store } = context;
  for (const gateway of store.list(GATEWAY_KEY)) reconcileGateway(context, gateway, faults);
  for (const kind of ROUTE_KINDS)
    for (const route of store.list(kind)) reconcileRoute(context, kind, route);
}

/** The condition types the controller writes (GATEWAY_API_CONDITIONS), for tests. */
export const WRITTEN_CONDITIONS = GATEWAY_API_CONDITIONS;
