/**
 * The Envoy configuration istiod would push to one proxy, derived from the view: its
 * clusters, listeners and route tables. It feeds `config_dump`, `clusters`,
 * `listeners` and the zero-valued stats every configured cluster has.
 */
import type { KubeObject } from '../types.ts';
import type { MeshContext } from './context.ts';
import { array, isGatewayPod, namespaceOf, record, spec, strings, text } from './k8s.ts';
import type { Endpoint, UpstreamCluster } from './proxy.ts';
import {
  clusterName,
  destinationRuleFor,
  endpointsOf,
  resolveCluster,
  upstreamWrap,
} from './proxy.ts';
import type { GatewayServer, MeshService } from './registry.ts';
import { gatewayServers, protocolFamily, qualifyHost, visibleServices } from './registry.ts';
import type { RouteScope } from './routing.ts';
import { virtualServicesFor, virtualServicesInScope } from './routing.ts';
import { outboundTrafficPolicyOf } from './sidecar-scope.ts';
import { UNKNOWN_DESTINATION } from '../../harness/facts/envoy.ts';

/** One configured cluster. */
export interface ClusterConfig {
  name: string;
  type: 'EDS' | 'STRICT_DNS' | 'ORIGINAL_DST' | 'STATIC';
  endpoints: Endpoint[];
  upstream?: UpstreamCluster;
}

/** One filter chain: what it matches and where it sends. */
export interface FilterChainConfig {
  serverNames: string[];
  transport: 'raw_buffer' | 'tls' | 'any';
  /** `http` chains name a route table; `tcp` chains a cluster. */
  kind: 'http' | 'tcp';
  routeConfig?: string;
  cluster?: string;
  terminatesTls?: string;
}

export interface ListenerConfig {
  name: string;
  port: number;
  chains: FilterChainConfig[];
}

/** One route of a virtual host. */
export interface RouteEntry {
  name: string;
  match: Record<string, unknown>;
  action: Record<string, unknown>;
}

export interface RouteConfig {
  name: string;
  virtualHosts: { name: string; domains: string[]; routes: RouteEntry[] }[];
}

/** The proxy's configuration. */
export interface ProxyConfig {
  clusters: ClusterConfig[];
  listeners: ListenerConfig[];
  routes: RouteConfig[];
}

function clusterType(service: MeshService): ClusterConfig['type'] {
  if (service.source === 'Service' || service.resolution === 'STATIC') return 'EDS';
  if (service.resolution === 'NONE') return 'ORIGINAL_DST';
  return 'STRICT_DNS';
}

function outboundClusters(
  ctx: MeshContext,
  proxy: KubeObject,
  services: MeshService[],
): ClusterConfig[] {
  const out: ClusterConfig[] = [];
  for (const service of services) {
    if (service.hostname.includes('*') && service.resolution !== 'NONE') continue;
    const rule = destinationRuleFor(ctx, proxy, service);
    const subsets = array(spec(rule).subsets)
      .map((subset) => text(record(subset).name))
      .filter((name): name is string => name !== undefined);
    for (const port of service.ports) {
      for (const subset of [undefined, ...subsets]) {
        const lookup = resolveCluster(
          ctx,
          proxy,
          { host: service.hostname, port: port.number, subset },
          port.number,
        );
        if (!lookup.ok) continue;
        out.push({
          name: lookup.cluster.name,
          type: clusterType(service),
          endpoints: endpointsOf(ctx, proxy, lookup.cluster),
          upstream: lookup.cluster,
        });
      }
    }
  }
  return out;
}

function staticClusters(gateway: boolean): ClusterConfig[] {
  const names: [string, ClusterConfig['type']][] = [
    ['BlackHoleCluster', 'STATIC'],
    ['agent', 'STATIC'],
    ['prometheus_stats', 'STATIC'],
    ['sds-grpc', 'STATIC'],
    ['xds-grpc', 'STATIC'],
  ];
  if (!gateway)
    names.push(
      ['PassthroughCluster', 'ORIGINAL_DST'],
      ['InboundPassthroughCluster', 'ORIGINAL_DST'],
    );
  return names.map(([name, type]) => ({ name, type, endpoints: [] }));
}

function routeEntries(
  vs: KubeObject | undefined,
  scope: RouteScope,
  port: number,
  fallbackCluster: string | undefined,
): RouteEntry[] {
  if (!vs) {
    return fallbackCluster
      ? [{ name: 'default', match: { prefix: '/' }, action: { cluster: fallbackCluster } }]
      : [];
  }
  const namespace = namespaceOf(vs);
  return array(spec(vs).http).flatMap((raw): RouteEntry[] => {
    const route = record(raw);
    const matches = array(route.match).map(record);
    const applies =
      matches.length === 0 ||
      matches.some((match) => {
        const matchPort = match.port;
        if (matchPort !== undefined && matchPort !== port) return false;
        const gateways = strings(match.gateways).map((name) =>
          name === 'mesh' || name.includes('/') ? name : `${namespace}/${name}`,
        );
        if (gateways.length === 0) return true;
        return scope.kind === 'mesh'
          ? gateways.includes('mesh')
          : gateways.some((ref) => scope.refs.includes(ref));
      });
    if (!applies) return [];
    const destination = record(array(route.route).map(record)[0]?.destination);
    const host = text(destination.host);
    const uri = record(matches[0]?.uri);
    const match = Object.keys(uri).length > 0 ? uri : { prefix: '/' };
    if (!host) return [{ name: text(route.name) ?? '', match, action: { direct_response: true } }];
    const destinationPort = Number(record(destination.port).number) || port;
    return [
      {
        name: text(route.name) ?? '',
        match,
        action: {
          cluster: clusterName(
            destinationPort,
            text(destination.subset) || undefined,
            qualifyHost(host, namespace),
          ),
        },
      },
    ];
  });
}

function sidecarListeners(
  ctx: MeshContext,
  pod: KubeObject,
  services: MeshService[],
): { listeners: ListenerConfig[]; routes: RouteConfig[] } {
  const scope: RouteScope = { kind: 'mesh', sourcePod: pod };
  const blocked = outboundTrafficPolicyOf(ctx, pod) === 'REGISTRY_ONLY';
  // What the listeners' catch-alls send unknown destinations to, by the proxy's policy.
  const catchAll = blocked
    ? UNKNOWN_DESTINATION.blackHoleCluster
    : UNKNOWN_DESTINATION.passthroughCluster;
  const ports = [
    ...new Set(services.flatMap((service) => service.ports.map((port) => port.number))),
  ].sort((a, b) => a - b);
  const listeners: ListenerConfig[] = [
    {
      name: 'virtualOutbound',
      port: 15001,
      chains: [{ serverNames: [], transport: 'any', kind: 'tcp', cluster: catchAll }],
    },
    {
      name: 'virtualInbound',
      port: 15006,
      chains: [
        { serverNames: [], transport: 'any', kind: 'tcp', cluster: 'InboundPassthroughCluster' },
      ],
    },
  ];
  const routes: RouteConfig[] = [];
  for (const port of ports) {
    const onPort = services.filter((service) => service.ports.some((p) => p.number === port));
    const http = onPort.filter((service) =>
      ['http', 'auto'].includes(
        protocolFamily(service.ports.find((p) => p.number === port)?.protocol ?? 'TCP'),
      ),
    );
    const chains: FilterChainConfig[] = [];
    for (const service of onPort.filter((candidate) => !http.includes(candidate))) {
      const vs = virtualServicesFor(ctx.view, scope, service.hostname)[0];
      const tlsRoute = array(spec(vs).tls).map(record)[0];
      const destination = record(array(tlsRoute?.route).map(record)[0]?.destination);
      const host = text(destination.host);
      chains.push({
        serverNames: [service.hostname],
        transport: 'any',
        kind: 'tcp',
        cluster:
          host && vs
            ? clusterName(
                Number(record(destination.port).number) || port,
                text(destination.subset) || undefined,
                qualifyHost(host, namespaceOf(vs)),
              )
            : clusterName(port, undefined, service.hostname),
      });
    }
    if (http.length > 0) {
      chains.push({
        serverNames: [],
        transport: 'raw_buffer',
        kind: 'http',
        routeConfig: String(port),
      });
      routes.push({
        name: String(port),
        virtualHosts: [
          ...http.map((service) => ({
            name: `${service.hostname}:${port}`,
            domains: [service.hostname, `${service.hostname}:${port}`],
            routes: routeEntries(
              virtualServicesFor(ctx.view, scope, service.hostname)[0],
              scope,
              port,
              clusterName(port, undefined, service.hostname),
            ),
          })),
          blocked
            ? {
                name: UNKNOWN_DESTINATION.blackHoleRoute,
                domains: ['*'],
                routes: [
                  {
                    name: UNKNOWN_DESTINATION.blackHoleRoute,
                    match: { prefix: '/' },
                    action: {
                      direct_response: { status: UNKNOWN_DESTINATION.blackHoleHttpStatus },
                    },
                  },
                ],
              }
            : {
                name: UNKNOWN_DESTINATION.passthroughRoute,
                domains: ['*'],
                routes: [
                  {
                    name: UNKNOWN_DESTINATION.passthroughRoute,
                    match: { prefix: '/' },
                    action: { cluster: UNKNOWN_DESTINATION.passthroughCluster },
                  },
                ],
              },
        ],
      });
    }
    listeners.push({ name: `0.0.0.0_${port}`, port, chains });
  }
  return { listeners, routes };
}

function gatewayListeners(
  ctx: MeshContext,
  pod: KubeObject,
): { listeners: ListenerConfig[]; routes: RouteConfig[] } {
  const servers = gatewayServers(ctx.view, pod);
  const byPort = new Map<number, GatewayServer[]>();
  for (const server of servers)
    byPort.set(server.listenPort, [...(byPort.get(server.listenPort) ?? []), server]);
  const listeners: ListenerConfig[] = [];
  const routes: RouteConfig[] = [];
  for (const [port, onPort] of [...byPort.entries()].sort(([a], [b]) => a - b)) {
    const chains: FilterChainConfig[] = [];
    const scope: RouteScope = {
      kind: 'gateway',
      refs: [...new Set(onPort.map((server) => server.ref))],
      gatewayNamespace: namespaceOf(pod),
    };
    const http = onPort.filter((server) => protocolFamily(server.protocol) === 'http');
    if (http.length > 0) {
      const name = `http.${port}`;
      chains.push({ serverNames: [], transport: 'raw_buffer', kind: 'http', routeConfig: name });
      const hosts = [...new Set(http.flatMap((server) => server.hosts.map((entry) => entry.host)))];
      routes.push({
        name,
        virtualHosts: hosts.map((host) => {
          const vs = virtualServicesInScope(
            ctx.view,
            scope,
            (vsHost) => vsHost === host || host === '*',
          )[0];
          return {
            name: `${host}:${http[0]?.number ?? port}`,
            domains: [host, `${host}:*`],
            routes: routeEntries(vs, scope, http[0]?.number ?? port, undefined),
          };
        }),
      });
    }
    for (const server of onPort.filter(
      (candidate) => candidate.protocol === 'HTTPS' || candidate.protocol === 'TLS',
    )) {
      const serverNames = server.hosts.map((entry) => entry.host);
      if (server.tlsMode === 'PASSTHROUGH' || server.tlsMode === 'AUTO_PASSTHROUGH') {
        for (const vs of virtualServicesInScope(ctx.view, scope, (vsHost) =>
          serverNames.some((host) => host === vsHost || host === '*'),
        )) {
          for (const raw of array(spec(vs).tls)) {
            const route = record(raw);
            const destination = record(array(route.route).map(record)[0]?.destination);
            const host = text(destination.host);
            if (!host) continue;
            chains.push({
              serverNames: array(route.match).flatMap((match) => strings(record(match).sniHosts)),
              transport: 'tls',
              kind: 'tcp',
              cluster: clusterName(
                Number(record(destination.port).number) || server.number,
                text(destination.subset) || undefined,
                qualifyHost(host, namespaceOf(vs)),
              ),
            });
          }
        }
        continue;
      }
      chains.push({
        serverNames,
        transport: 'tls',
        kind: server.protocol === 'HTTPS' ? 'http' : 'tcp',
        terminatesTls: server.tlsMode ?? 'SIMPLE',
        ...(server.protocol === 'HTTPS'
          ? {
              routeConfig: `https.${server.number}.${server.gateway.metadata.name}.${namespaceOf(server.gateway)}`,
            }
          : {}),
      });
    }
    listeners.push({ name: `0.0.0.0_${port}`, port, chains });
  }
  return { listeners, routes };
}

/** Derives the proxy's clusters, listeners and routes from the view. */
export function proxyConfig(ctx: MeshContext, pod: KubeObject): ProxyConfig {
  const gateway = isGatewayPod(pod);
  const services = visibleServices(ctx.view, namespaceOf(pod));
  const { listeners, routes } = gateway
    ? gatewayListeners(ctx, pod)
    : sidecarListeners(ctx, pod, services);
  return {
    clusters: [...outboundClusters(ctx, pod, services), ...staticClusters(gateway)],
    listeners,
    routes,
  };
}

/** The transport socket of a cluster in config_dump form, if it originates TLS. */
export function transportSocket(cluster: ClusterConfig): Record<string, unknown> | undefined {
  if (!cluster.upstream) return undefined;
  const how = upstreamWrap(cluster.upstream, cluster.endpoints[0]);
  if (how.kind === 'plain') return undefined;
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: how.sni,
      common_tls_context:
        how.kind === 'istio'
          ? {
              alpn_protocols: ['istio-peer-exchange', 'istio'],
              tls_certificate_sds_secret_configs: [{ name: 'default' }],
              combined_validation_context: {
                validation_context_sds_secret_config: { name: 'ROOTCA' },
              },
            }
          : {},
    },
  };
}
