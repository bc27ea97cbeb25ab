/**
 * The behaviours' setups (B1–B5) as the suites apply them: the project's manifests
 * rendered into a fresh simulated world, so the scenario tests and the fault tests
 * exercise exactly the configuration the suites send.
 */
import type { FaultName, KubeObject, SimExternalHost } from '../types.ts';
import type { World } from './testing.ts';
import { GATEWAY_HOST, clientPod, createWorld, manifest, namespace } from './testing.ts';

/** What a scenario gives a test: the world, the clients, and steps it may take. */
export interface Scenario {
  world: World;
  host: SimExternalHost;
  values: Record<string, string>;
  /** The namespace the suite created and put its objects in. */
  namespace: string;
  /** A client with a sidecar in that namespace. */
  client: KubeObject;
  /** A client without sidecar in a namespace without injection. */
  plain: KubeObject;
  apply(path: string): void;
}

/** The placeholder values the suites render, for one host and namespace. */
export function manifestValues(host: string, ns: string, name: string): Record<string, string> {
  return {
    name,
    namespace: ns,
    host,
    gatewayHost: GATEWAY_HOST,
    subset: 'egress',
    gatewaySelectorKey: 'istio',
    gatewaySelectorValue: 'egressgateway',
    clientName: 'curl',
    clientImage: 'curlimages/curl:8.11.1',
  };
}

/** A world with the suite namespace (injection on), a sidecar client and a plain client elsewhere. */
export function scenario(options: {
  host: SimExternalHost;
  namespace: string;
  faults?: FaultName[];
  extraHosts?: SimExternalHost[];
  mesh?: Record<string, unknown>;
}): Scenario {
  const world = createWorld({
    hosts: [options.host, ...(options.extraHosts ?? [])],
    faults: options.faults ?? [],
    ...(options.mesh ? { mesh: options.mesh } : {}),
  });
  const values = manifestValues(
    options.host.name,
    options.namespace,
    `egress-${options.namespace}`,
  );
  world.view.apply(namespace(options.namespace, { 'istio-injection': 'enabled' }));
  world.view.apply(namespace(`${options.namespace}-plain`));
  const client = world.view.apply(clientPod(options.namespace, { sidecar: true }));
  const plain = world.view.apply(clientPod(`${options.namespace}-plain`, { sidecar: false }));
  return {
    world,
    host: options.host,
    values,
    namespace: options.namespace,
    client,
    plain,
    apply(path: string): void {
      for (const obj of manifest(path, values)) world.view.apply(obj);
    },
  };
}

/** B1: ServiceEntry, Gateway and DestinationRule; the VirtualService when `withVirtualService`. */
export function httpGateway(
  host: SimExternalHost,
  options: { faults?: FaultName[]; withVirtualService?: boolean } = {},
): Scenario {
  const s = scenario({ host, namespace: 'egress-b1', faults: options.faults ?? [] });
  for (const file of ['service-entry', 'gateway', 'destination-rule'])
    s.apply(`http-gateway/istio-api/${file}.yaml`);
  if (options.withVirtualService !== false) s.apply('http-gateway/istio-api/virtual-service.yaml');
  return s;
}

/** B2: the ServiceEntry of B1 with the mutual-TLS Gateway, DestinationRule and VirtualService. */
export function httpGatewayMutualTls(
  host: SimExternalHost,
  options: { faults?: FaultName[] } = {},
): Scenario {
  const s = scenario({ host, namespace: 'egress-b2', faults: options.faults ?? [] });
  s.apply('http-gateway/istio-api/service-entry.yaml');
  for (const file of ['gateway', 'destination-rule', 'virtual-service'])
    s.apply(`http-gateway/istio-api/mtls/${file}.yaml`);
  return s;
}

/** B3 (or its mTLS variant): TLS ServiceEntry, Gateway, DestinationRule; the VirtualService when asked. */
export function passthrough(
  host: SimExternalHost,
  options: {
    faults?: FaultName[];
    withVirtualService?: boolean;
    mutualTls?: boolean;
    extraHosts?: SimExternalHost[];
  } = {},
): Scenario {
  const s = scenario({
    host,
    namespace: options.mutualTls ? 'egress-b3m' : 'egress-b3',
    faults: options.faults ?? [],
    extraHosts: options.extraHosts ?? [],
  });
  const variant = options.mutualTls ? 'passthrough/istio-api/mtls' : 'passthrough/istio-api';
  s.apply('passthrough/istio-api/service-entry.yaml');
  s.apply(`${variant}/gateway.yaml`);
  s.apply(`${variant}/destination-rule.yaml`);
  if (options.withVirtualService !== false) s.apply(`${variant}/virtual-service.yaml`);
  return s;
}

/** The NetworkPolicy of B4 step 3 (Istio's egress page): DNS to kube-system, anything to istio-system. */
export function egressPolicy(ns: string, options: { allowDns?: boolean } = {}): KubeObject {
  const egress: unknown[] = [{ to: [{ namespaceSelector: { matchLabels: { istio: 'system' } } }] }];
  if (options.allowDns !== false) {
    egress.unshift({
      to: [{ namespaceSelector: { matchLabels: { 'kube-system': 'true' } } }],
      ports: [{ protocol: 'UDP', port: 53 }],
    });
  }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'allow-egress-to-istio-system-and-kube-dns', namespace: ns },
    spec: { podSelector: {}, policyTypes: ['Egress'], egress },
  };
}

/** Labels a namespace as B4 step 2 does. */
export function labelNamespace(world: World, name: string, labels: Record<string, string>): void {
  world.view.patch('Namespace', undefined, name, (ns) => {
    ns.metadata.labels = { ...(ns.metadata.labels ?? {}), ...labels };
  });
}

/** B4 step 1: a namespace without injection and a client without sidecar. */
export function networkPolicy(
  host: SimExternalHost,
  options: { faults?: FaultName[] } = {},
): { world: World; plain: KubeObject; namespace: string } {
  const ns = 'egress-b4';
  const world = createWorld({ hosts: [host], faults: options.faults ?? [] });
  world.view.apply(namespace(ns));
  const plain = world.view.apply(clientPod(ns, { sidecar: false }));
  return { world, plain, namespace: ns };
}

/** B4 steps 2, 3 and 5: labels, the policy, injection, a sidecar client, the passthrough config with the DestinationRule in the namespace. */
export function lockDownAndInject(
  world: World,
  host: SimExternalHost,
  ns: string,
  options: { labelIstioSystem?: boolean } = {},
): KubeObject {
  if (options.labelIstioSystem !== false)
    labelNamespace(world, 'istio-system', { istio: 'system' });
  labelNamespace(world, 'kube-system', { 'kube-system': 'true' });
  world.view.apply(egressPolicy(ns));
  labelNamespace(world, ns, { 'istio-injection': 'enabled' });
  const values = manifestValues(host.name, ns, 'egress-b4');
  for (const file of ['service-entry', 'gateway', 'destination-rule', 'virtual-service']) {
    for (const obj of manifest(`passthrough/istio-api/${file}.yaml`, values)) world.view.apply(obj);
  }
  return world.view.apply(clientPod(ns, { sidecar: true, name: 'curl-injected' }));
}

/** B5: SE, Gateway, DestinationRule and VirtualService in namespace A, the client in namespace B. */
export function drLookup(
  host: SimExternalHost,
  options: { faults?: FaultName[] } = {},
): {
  world: World;
  client: KubeObject;
  clientNamespace: string;
  applyRuleIn: (ns: string) => void;
} {
  const [a, b] = ['egress-b5-a', 'egress-b5-b'];
  const world = createWorld({ hosts: [host], faults: options.faults ?? [] });
  world.view.apply(namespace(a, { 'istio-injection': 'enabled' }));
  world.view.apply(namespace(b, { 'istio-injection': 'enabled' }));
  const values = manifestValues(host.name, a, 'egress-b5');
  for (const file of ['service-entry', 'gateway', 'destination-rule', 'virtual-service']) {
    for (const obj of manifest(`http-gateway/istio-api/${file}.yaml`, values))
      world.view.apply(obj);
  }
  const client = world.view.apply(clientPod(b, { sidecar: true }));
  return {
    world,
    client,
    clientNamespace: b,
    applyRuleIn: (ns) => {
      for (const obj of manifest('http-gateway/istio-api/destination-rule.yaml', {
        ...values,
        namespace: ns,
      }))
        world.view.apply(obj);
    },
  };
}

/**
 * B7: the suite's Sidecar (REGISTRY_ONLY) in the client's namespace and no ServiceEntry for
 * the host; `register()` adds B1's configuration for it, as the suite's last stage does.
 */
export function registryOnly(
  host: SimExternalHost,
  options: { faults?: FaultName[]; withSidecar?: boolean; mesh?: Record<string, unknown> } = {},
): Scenario & { register: () => void } {
  const s = scenario({
    host,
    namespace: 'egress-b7',
    faults: options.faults ?? [],
    ...(options.mesh ? { mesh: options.mesh } : {}),
  });
  if (options.withSidecar !== false) s.apply('registry-only/istio-api/sidecar.yaml');
  return {
    ...s,
    register: () => {
      for (const file of ['service-entry', 'gateway', 'destination-rule', 'virtual-service'])
        s.apply(`http-gateway/istio-api/${file}.yaml`);
    },
  };
}
