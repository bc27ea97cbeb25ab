/**
 * Istio's service registry and config scoping as a proxy sees them: services
 * (Kubernetes Services and ServiceEntries) visible from a namespace, host matching,
 * the DestinationRule lookup path, and the Gateway servers that select a gateway pod.
 */
import type { ClusterView, KubeObject } from '../types.ts';
import {
  annotationsOf,
  array,
  integer,
  istioObjects,
  labelsOf,
  mapSelects,
  namespaceOf,
  record,
  serviceIp,
  spec,
  stringMap,
  strings,
  text,
} from './k8s.ts';
import { TRANSLATED_FROM } from './gateway-api.ts';
import { CLUSTER_DOMAIN, resolveTargetPort, serviceNamespaceHost, servicePorts } from './world.ts';

/** How a proxy treats the bytes on a port. */
export type ProtocolFamily = 'http' | 'tls' | 'tcp' | 'auto';

/** A service port as Istio models it. */
export interface MeshPort {
  number: number;
  name: string;
  /** Istio protocol name: HTTP, HTTP2, GRPC, HTTPS, TLS, TCP, … or UNKNOWN (sniffed). */
  protocol: string;
  /** The endpoint port: Service targetPort, or ServiceEntry `targetPort`. */
  targetPort: number | string;
}

/** A Kubernetes Service or a ServiceEntry host, as one entry of the registry. */
export interface MeshService {
  hostname: string;
  namespace: string;
  source: 'Service' | 'ServiceEntry';
  object: KubeObject;
  ports: MeshPort[];
  /** `CLUSTER` for Kubernetes Services (kube endpoints). */
  resolution: 'DNS' | 'DNS_ROUND_ROBIN' | 'STATIC' | 'NONE' | 'CLUSTER';
  addresses: string[];
}

export function protocolFamily(protocol: string): ProtocolFamily {
  switch (protocol.toUpperCase()) {
    case 'HTTP':
    case 'HTTP2':
    case 'HTTP_PROXY':
    case 'GRPC':
    case 'GRPC-WEB':
      return 'http';
    case 'HTTPS':
    case 'TLS':
      return 'tls';
    case 'UNKNOWN':
      return 'auto';
    default:
      return 'tcp';
  }
}

/** Istio's protocol selection for a Kubernetes Service port: appProtocol, then the name prefix. */
function kubePortProtocol(name: string, appProtocol: string | undefined): string {
  const fromApp = appProtocol?.toLowerCase();
  if (fromApp === 'kubernetes.io/h2c') return 'HTTP2';
  const candidate = (fromApp ?? name.split('-')[0] ?? '').toLowerCase();
  const known: Record<string, string> = {
    http: 'HTTP',
    http2: 'HTTP2',
    grpc: 'GRPC',
    'grpc-web': 'GRPC-WEB',
    https: 'HTTPS',
    tls: 'TLS',
    tcp: 'TCP',
    mongo: 'Mongo',
    mysql: 'MySQL',
    redis: 'Redis',
    udp: 'UDP',
  };
  return known[candidate] ?? 'UNKNOWN';
}

/** Whether an object with this `exportTo` is visible from `namespace`. */
export function exportedTo(exportTo: unknown, ownNamespace: string, namespace: string): boolean {
  const entries = strings(exportTo);
  if (entries.length === 0) return true;
  return entries.some(
    (entry) =>
      entry === '*' || entry === namespace || (entry === '.' && ownNamespace === namespace),
  );
}

function fromKubeService(service: KubeObject): MeshService {
  const ip = serviceIp(service);
  return {
    hostname: serviceNamespaceHost(service),
    namespace: namespaceOf(service),
    source: 'Service',
    object: service,
    ports: servicePorts(service).map((port) => ({
      number: port.port,
      name: port.name,
      protocol: kubePortProtocol(port.name, port.appProtocol),
      targetPort: port.targetPort,
    })),
    resolution: 'CLUSTER',
    addresses: ip ? [ip] : [],
  };
}

function fromServiceEntry(entry: KubeObject): MeshService[] {
  const body = spec(entry);
  const ports: MeshPort[] = array(body.ports)
    .map(record)
    .flatMap((port) => {
      const number = integer(port.number);
      if (number === undefined) return [];
      return [
        {
          number,
          name: text(port.name) ?? '',
          protocol: (text(port.protocol) ?? 'UNKNOWN').toUpperCase(),
          targetPort: integer(port.targetPort) ?? number,
        },
      ];
    });
  const resolution = text(body.resolution) ?? 'NONE';
  return strings(body.hosts).map((host) => ({
    hostname: host.toLowerCase(),
    namespace: namespaceOf(entry),
    source: 'ServiceEntry' as const,
    object: entry,
    ports,
    resolution: (['DNS', 'DNS_ROUND_ROBIN', 'STATIC', 'NONE'].includes(resolution)
      ? resolution
      : 'NONE') as MeshService['resolution'],
    addresses: strings(body.addresses),
  }));
}

/** Every service visible from `namespace`: Kubernetes Services and exported ServiceEntry hosts. */
export function visibleServices(view: ClusterView, namespace: string): MeshService[] {
  const services = view
    .list('Service')
    .filter((svc) => {
      // Services are exported with an annotation, a comma-separated list like ServiceEntry's exportTo.
      const annotation = annotationsOf(svc)['networking.istio.io/exportTo'];
      const exportTo = annotation ? annotation.split(',').map((entry) => entry.trim()) : [];
      return exportedTo(exportTo, namespaceOf(svc), namespace);
    })
    .map(fromKubeService);
  const entries = istioObjects(view, 'ServiceEntry')
    .filter((entry) => exportedTo(spec(entry).exportTo, namespaceOf(entry), namespace))
    .flatMap(fromServiceEntry);
  return [...services, ...entries];
}

/** Istio host matching: exact, `*`, or `*.suffix` (which also matches deeper names). */
export function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p === '*' || p === h) return true;
  if (p.startsWith('*.')) return h.endsWith(p.slice(1));
  if (p.startsWith('*')) return h.endsWith(p.slice(1));
  return false;
}

/** A config host as written (short names are relative to the config's namespace) made absolute. */
export function qualifyHost(host: string, configNamespace: string): string {
  const lower = host.toLowerCase();
  if (lower === '*' || lower.includes('.')) return lower;
  return `${lower}.${configNamespace}.svc.${CLUSTER_DOMAIN}`;
}

/** The service a host name denotes among `services`: exact hostname first, then wildcard entries. */
export function serviceForHost(services: MeshService[], host: string): MeshService | undefined {
  const lower = host.toLowerCase();
  return (
    services.find((svc) => svc.hostname === lower) ??
    services.find((svc) => svc.hostname.startsWith('*') && hostMatches(svc.hostname, lower))
  );
}

export function portOf(service: MeshService, number: number): MeshPort | undefined {
  return service.ports.find((port) => port.number === number);
}

/** DestinationRule TLS settings for one connection pool. */
export interface TlsSettings {
  mode: string;
  sni: string | undefined;
  insecureSkipVerify: boolean;
}

function tlsFrom(value: unknown): TlsSettings | undefined {
  const tls = record(value);
  const mode = text(tls.mode);
  if (!mode) return undefined;
  return {
    mode: mode.toUpperCase(),
    sni: text(tls.sni),
    insecureSkipVerify: tls.insecureSkipVerify === true,
  };
}

function portLevelTls(policy: Record<string, unknown>, port: number): TlsSettings | undefined {
  for (const raw of array(policy.portLevelSettings)) {
    const setting = record(raw);
    if (integer(record(setting.port).number) === port) return tlsFrom(setting.tls);
  }
  return undefined;
}

/** The subset named `name` in a DestinationRule, if it defines one. */
export function subsetOf(rule: KubeObject, name: string): Record<string, unknown> | undefined {
  return array(spec(rule).subsets)
    .map(record)
    .find((subset) => subset.name === name);
}

/** The TLS a client proxy originates for (rule, subset, port): subset port-level, subset, rule port-level, rule. */
export function upstreamTlsSettings(
  rule: KubeObject | undefined,
  subsetName: string | undefined,
  port: number,
): TlsSettings | undefined {
  if (!rule) return undefined;
  const subset = subsetName ? subsetOf(rule, subsetName) : undefined;
  const subsetPolicy = record(subset?.trafficPolicy);
  const rulePolicy = record(spec(rule).trafficPolicy);
  return (
    portLevelTls(subsetPolicy, port) ??
    tlsFrom(subsetPolicy.tls) ??
    portLevelTls(rulePolicy, port) ??
    tlsFrom(rulePolicy.tls)
  );
}

/** Connect timeout from `trafficPolicy.connectionPool.tcp.connectTimeout`, Istio's default 10 s. */
export function connectTimeoutMs(rule: KubeObject | undefined): number {
  const raw = text(
    record(record(record(spec(rule).trafficPolicy).connectionPool).tcp).connectTimeout,
  );
  const match = raw ? /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(raw) : null;
  if (!match) return 10_000;
  const value = Number(match[1]);
  return match[2] === 'ms' ? value : match[2] === 's' ? value * 1000 : value * 60_000;
}

/**
 * The DestinationRule a proxy in `proxyNamespace` uses for `host`, searched along Istio's
 * lookup path: the proxy's namespace, then the service's namespace, then the root
 * namespace. `anywhere` extends the search to every namespace (the `dr-lookup-ignored` fault).
 */
export function findDestinationRule(
  view: ClusterView,
  host: string,
  lookup: {
    proxyNamespace: string;
    serviceNamespace: string;
    rootNamespace: string;
    anywhere: boolean;
  },
): KubeObject | undefined {
  const rules = istioObjects(view, 'DestinationRule');
  const ruleFor = (namespace: string, requireExport: boolean): KubeObject | undefined => {
    const candidates = rules.filter(
      (rule) =>
        namespaceOf(rule) === namespace &&
        hostMatches(qualifyHost(text(spec(rule).host) ?? '', namespace), host) &&
        (!requireExport || exportedTo(spec(rule).exportTo, namespace, lookup.proxyNamespace)),
    );
    // An exact host beats a wildcard one.
    return (
      candidates.find((rule) => qualifyHost(text(spec(rule).host) ?? '', namespace) === host) ??
      candidates[0]
    );
  };
  const path = [lookup.proxyNamespace, lookup.serviceNamespace, lookup.rootNamespace];
  for (const [index, namespace] of path.entries()) {
    const found = ruleFor(namespace, index > 0);
    if (found) return found;
  }
  if (!lookup.anywhere) return undefined;
  for (const rule of rules) {
    const namespace = namespaceOf(rule);
    if (hostMatches(qualifyHost(text(spec(rule).host) ?? '', namespace), host)) return rule;
  }
  return undefined;
}

/** One `hosts` entry of a Gateway server: `ns/host`, `./host` or a bare host (any namespace). */
export interface ServerHost {
  namespace: string;
  host: string;
}

/** A server of a Gateway resource that selects the gateway pod. */
export interface GatewayServer {
  gateway: KubeObject;
  /** `namespace/name` of the Gateway, as VirtualServices refer to it. */
  ref: string;
  number: number;
  /** The pod port Envoy listens on: the targetPort of the Service port with that number. */
  listenPort: number;
  protocol: string;
  hosts: ServerHost[];
  tlsMode: string | undefined;
  credentialName: string | undefined;
}

/** Servers of every Gateway (any namespace) whose `selector` matches the pod's labels. */
export function gatewayServers(view: ClusterView, pod: KubeObject): GatewayServer[] {
  const podLabels = labelsOf(pod);
  const selectingServices = view.list('Service').filter((svc) => {
    const selector = stringMap(spec(svc).selector);
    return Object.keys(selector).length > 0 && mapSelects(selector, podLabels);
  });
  const listenPortFor = (number: number): number => {
    for (const svc of selectingServices) {
      const port = servicePorts(svc).find((candidate) => candidate.port === number);
      if (port) return resolveTargetPort(pod, port.targetPort) ?? number;
    }
    return number;
  };
  const out: GatewayServer[] = [];
  for (const gateway of istioObjects(view, 'Gateway')) {
    if (!mapSelects(stringMap(spec(gateway).selector), podLabels)) continue;
    const gatewayNamespace = namespaceOf(gateway);
    // A Gateway API Gateway configures only the deployment Istio made for it, in its namespace.
    if (annotationsOf(gateway)[TRANSLATED_FROM] && gatewayNamespace !== namespaceOf(pod)) continue;
    for (const raw of array(spec(gateway).servers)) {
      const server = record(raw);
      const port = record(server.port);
      const number = integer(port.number);
      if (number === undefined) continue;
      const tls = record(server.tls);
      out.push({
        gateway,
        ref: `${gatewayNamespace}/${gateway.metadata.name}`,
        number,
        listenPort: listenPortFor(number),
        protocol: (text(port.protocol) ?? 'HTTP').toUpperCase(),
        hosts: strings(server.hosts).map((entry) => {
          const slash = entry.indexOf('/');
          if (slash < 0) return { namespace: '*', host: entry.toLowerCase() };
          const namespace = entry.slice(0, slash);
          return {
            namespace: namespace === '.' ? gatewayNamespace : namespace,
            host: entry.slice(slash + 1).toLowerCase(),
          };
        }),
        tlsMode: text(tls.mode)?.toUpperCase(),
        credentialName: text(tls.credentialName),
      });
    }
  }
  return out;
}

/** Whether a server's hosts admit `host` from a VirtualService in `vsNamespace` (any, if undefined). */
export function serverAdmits(
  server: GatewayServer,
  host: string | undefined,
  vsNamespace?: string,
): boolean {
  return server.hosts.some(
    (entry) =>
      (host === undefined ? entry.host === '*' : hostMatches(entry.host, host)) &&
      (vsNamespace === undefined || entry.namespace === '*' || entry.namespace === vsNamespace),
  );
}

/** The `namespace/name` references a VirtualService's `gateways` list denotes (`mesh` stays `mesh`). */
export function gatewayRefs(names: string[], vsNamespace: string): string[] {
  return names.map((name) =>
    name === 'mesh' || name.includes('/') ? name : `${vsNamespace}/${name}`,
  );
}
