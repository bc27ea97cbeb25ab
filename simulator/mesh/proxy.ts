/**
 * What sidecars and gateways share: turning a route destination into an Envoy cluster
 * (`outbound|PORT|SUBSET|HOST`, which exists only if the subset is defined by a
 * DestinationRule on the lookup path), finding its endpoints, and sending to one of
 * them with the TLS the DestinationRule asks for, reporting failures as Envoy does.
 */
import type { KubeObject } from '../types.ts';
import type { ServerIdentity } from './certs.ts';
import type { MeshContext } from './context.ts';
import {
  array,
  integer,
  isGatewayPod,
  isReady,
  labelsOf,
  mapSelects,
  namespaceOf,
  podIp,
  record,
  spec,
  stringMap,
  text,
} from './k8s.ts';
import { connect } from './network.ts';
import { dnsAllowed } from './network-policy.ts';
import type { MeshPort, MeshService } from './registry.ts';
import {
  connectTimeoutMs,
  findDestinationRule,
  portOf,
  serviceForHost,
  subsetOf,
  upstreamTlsSettings,
  visibleServices,
} from './registry.ts';
import type { RouteDestination } from './routing.ts';
import { proxyKey } from './telemetry.ts';
import type { Address, Payload, Reply } from './wire.ts';
import { resolveName, resolveTargetPort } from './world.ts';
import {
  HTTP_CONNECT_FAILURE_FLAGS,
  istioClusterName,
  renderResponseFlags,
} from '../../harness/facts/envoy.ts';

/** An Envoy upstream cluster that exists in the proxy's config. */
export interface UpstreamCluster {
  name: string;
  service: MeshService;
  port: MeshPort;
  subset: string | undefined;
  /** The DestinationRule the proxy applies to the host, if any is on its lookup path. */
  rule: KubeObject | undefined;
}

export type ClusterLookup =
  | { ok: true; cluster: UpstreamCluster }
  /** The route names a cluster the proxy does not have (`cluster_not_found`). */
  | { ok: false; name: string };

export function clusterName(port: number, subset: string | undefined, host: string): string {
  return istioClusterName(port, host, { subset: subset ?? '' });
}

/** The DestinationRule `proxy` applies to `service`, following Istio's lookup path. */
export function destinationRuleFor(
  ctx: MeshContext,
  proxy: KubeObject,
  service: MeshService,
): KubeObject | undefined {
  return findDestinationRule(ctx.view, service.hostname, {
    proxyNamespace: namespaceOf(proxy),
    serviceNamespace: service.namespace,
    rootNamespace: ctx.mesh.rootNamespace,
    anywhere: ctx.fault('dr-lookup-ignored'),
  });
}

/** Resolves a route destination to the proxy's cluster for it, as istiod would have generated it. */
export function resolveCluster(
  ctx: MeshContext,
  proxy: KubeObject,
  destination: RouteDestination,
  fallbackPort: number,
): ClusterLookup {
  const service = serviceForHost(visibleServices(ctx.view, namespaceOf(proxy)), destination.host);
  const only = service?.ports.length === 1 ? service.ports[0]?.number : undefined;
  const portNumber = destination.port ?? only ?? fallbackPort;
  const name = clusterName(portNumber, destination.subset, service?.hostname ?? destination.host);
  if (!service) return { ok: false, name };
  const port = portOf(service, portNumber);
  if (!port) return { ok: false, name };
  const rule = destinationRuleFor(ctx, proxy, service);
  if (destination.subset && (!rule || !subsetOf(rule, destination.subset)))
    return { ok: false, name };
  return { ok: true, cluster: { name, service, port, subset: destination.subset, rule } };
}

/** One endpoint of a cluster. */
export interface Endpoint {
  address: Address;
  pod?: KubeObject;
}

function subsetLabels(cluster: UpstreamCluster): Record<string, string> {
  if (!cluster.subset || !cluster.rule) return {};
  return stringMap(subsetOf(cluster.rule, cluster.subset)?.labels);
}

/** The endpoints Envoy would have for the cluster, seen from `proxy` (its DNS, its view). */
export function endpointsOf(
  ctx: MeshContext,
  proxy: KubeObject,
  cluster: UpstreamCluster,
  originalDestination?: Address,
): Endpoint[] {
  const { service, port } = cluster;
  const wanted = subsetLabels(cluster);
  if (service.source === 'Service') {
    const selector = stringMap(spec(service.object).selector);
    if (Object.keys(selector).length === 0) return [];
    return ctx.view
      .list('Pod', service.namespace)
      .filter(
        (pod) =>
          isReady(pod) && mapSelects(selector, labelsOf(pod)) && mapSelects(wanted, labelsOf(pod)),
      )
      .flatMap((pod) => {
        const target = resolveTargetPort(pod, port.targetPort);
        return target === undefined ? [] : [{ address: { ip: podIp(pod), port: target }, pod }];
      });
  }
  const entries = array(spec(service.object).endpoints)
    .map(record)
    .filter((entry) => mapSelects(wanted, stringMap(entry.labels)));
  const targetPort = typeof port.targetPort === 'number' ? port.targetPort : port.number;
  const portFor = (entry: Record<string, unknown>): number =>
    integer(record(entry.ports)[port.name]) ?? targetPort;
  switch (service.resolution) {
    case 'STATIC':
      return entries.flatMap((entry) => {
        const ip = text(entry.address);
        return ip ? [{ address: { ip, port: portFor(entry) } }] : [];
      });
    case 'NONE':
      return originalDestination ? [{ address: originalDestination }] : [];
    default: {
      // STRICT_DNS: Envoy resolves from the proxy's pod, through the same DNS and policies.
      if (!ctx.fault('netpol-not-enforced') && !dnsAllowed(ctx.view, proxy)) return [];
      const names = entries.length > 0 ? entries : [{ address: service.hostname }];
      return names.flatMap((entry) => {
        const name = text(entry.address);
        if (!name || name.startsWith('*')) return [];
        const ip = resolveName(ctx.view, ctx.externalHosts, name, namespaceOf(proxy));
        return ip ? [{ address: { ip, port: portFor(entry) } }] : [];
      });
    }
  }
}

/** How the proxy wraps what it sends to an endpoint. */
export type UpstreamWrap =
  | { kind: 'plain' }
  | { kind: 'istio'; sni: string }
  | { kind: 'simple'; sni: string; acceptPrivate: boolean };

/** The TLS a proxy originates to an endpoint: the DestinationRule's mode, else auto mTLS. */
export function upstreamWrap(
  cluster: UpstreamCluster,
  endpoint: Endpoint | undefined,
): UpstreamWrap {
  const settings = upstreamTlsSettings(cluster.rule, cluster.subset, cluster.port.number);
  const defaultSni = `outbound_.${cluster.port.number}_.${cluster.subset ?? ''}_.${cluster.service.hostname}`;
  switch (settings?.mode) {
    case 'ISTIO_MUTUAL':
      return { kind: 'istio', sni: settings.sni ?? defaultSni };
    case 'SIMPLE':
    case 'MUTUAL':
      return {
        kind: 'simple',
        sni: settings.sni ?? cluster.service.hostname,
        acceptPrivate: settings.insecureSkipVerify,
      };
    case 'DISABLE':
      return { kind: 'plain' };
    default:
      // Auto mTLS: endpoints whose pods carry the injector's tlsMode label get Istio mTLS.
      // Gateways are deployed, not injected, so they never carry it (even if a store adds it).
      return endpoint?.pod &&
        !isGatewayPod(endpoint.pod) &&
        labelsOf(endpoint.pod)['security.istio.io/tlsMode'] === 'istio'
        ? { kind: 'istio', sni: defaultSni }
        : { kind: 'plain' };
  }
}

function wrap(payload: Payload, how: UpstreamWrap): Payload {
  if (how.kind === 'plain') return payload;
  return {
    kind: 'tls',
    sni: how.sni,
    alpn: how.kind === 'istio' ? ['istio-peer-exchange', 'istio'] : ['http/1.1'],
    istioMutual: how.kind === 'istio',
    inner: payload,
  };
}

/** An upstream failure as Envoy reports it: response flags, details, and the local reply body. */
export interface UpstreamFailure {
  flags: string;
  details: string;
  transportFailure: string | undefined;
  body: string;
  /** How long until the proxy gives up (connect timeouts, retries); Infinity for a hang. */
  delayMs: number;
  connectFailed: boolean;
}

/** The result of sending to one endpoint of a cluster. */
export interface UpstreamResult {
  endpoint: Endpoint | undefined;
  localPort: number;
  newConnection: boolean;
  wrap: UpstreamWrap;
  /** The reply after unwrapping what the proxy originated. */
  reply?: Reply;
  /** The certificate the upstream presented to the proxy's own TLS. */
  upstreamIdentity?: ServerIdentity;
  failure?: UpstreamFailure;
}

const TLS_ERRORS = {
  verify:
    'TLS_error:|268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED:TLS_error_end',
  version: 'TLS_error:|268435703:SSL_routines:OPENSSL_internal:WRONG_VERSION_NUMBER:TLS_error_end',
  reset: 'TLS_error:_Connection_reset_by_peer',
  closed: 'TLS_error:_Connection_closed_by_peer',
};

function connectFailure(
  http: boolean,
  reason: string,
  transport: string | undefined,
  delayMs: number,
): UpstreamFailure {
  const retried = http ? 'retried and the latest reset reason: ' : 'reset reason: ';
  return {
    // The HTTP router's order (retries exhausted, then the connect failure). The TCP proxy's
    // own flags around its connect attempts are not modelled beyond UF.
    flags: renderResponseFlags(http ? HTTP_CONNECT_FAILURE_FLAGS : ['UF']),
    details: `upstream_reset_before_response_started{${reason.replace(/ /g, '_')}${transport ? `|${transport}` : ''}}`,
    transportFailure: transport,
    body: `upstream connect error or disconnect/reset before headers. ${retried}${reason}${transport ? `, transport failure reason: ${transport.replace(/_/g, ' ')}` : ''}`,
    delayMs,
    connectFailed: true,
  };
}

function terminationFailure(): UpstreamFailure {
  return {
    flags: 'UC',
    details: 'upstream_reset_before_response_started{connection_termination}',
    transportFailure: undefined,
    body: 'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
    delayMs: 0,
    connectFailed: false,
  };
}

/** What came back from one exchange with an upstream address. */
export interface Exchange {
  reply?: Reply;
  upstreamIdentity?: ServerIdentity;
  failure?: UpstreamFailure;
}

/**
 * Connects from the proxy to `address`, sends `payload` wrapped as `how` says, and
 * unwraps the reply; failures are described as Envoy reports them.
 */
export function exchange(
  ctx: MeshContext,
  proxy: KubeObject,
  localPort: number,
  address: Address,
  payload: Payload,
  how: UpstreamWrap,
  options: { http: boolean; connectTimeoutMs: number; fresh: boolean },
): Exchange {
  const raw = connect(ctx, proxy, localPort, address, wrap(payload, how));
  if (raw.kind === 'timeout' && options.fresh) {
    const attempts = options.http ? 3 : 1;
    return {
      failure: connectFailure(
        options.http,
        'connection timeout',
        undefined,
        options.connectTimeoutMs * attempts,
      ),
    };
  }
  if (raw.kind === 'refused') {
    return {
      failure: connectFailure(
        options.http,
        'remote connection failure',
        'delayed_connect_error:_Connection_refused',
        0,
      ),
    };
  }
  let reply: Reply = raw;
  let upstreamIdentity: ServerIdentity | undefined;
  if (how.kind !== 'plain') {
    const tlsFailure = (reason: string): Exchange => ({
      failure: connectFailure(options.http, 'remote connection failure', reason, 0),
    });
    if (raw.kind === 'tls') {
      const accepted =
        how.kind === 'istio'
          ? raw.server.trust === 'mesh'
          : raw.server.trust === 'public' || how.acceptPrivate;
      if (!accepted) return tlsFailure(TLS_ERRORS.verify);
      upstreamIdentity = raw.server;
      reply = raw.inner ?? { kind: 'closed' };
    } else if (raw.kind === 'http') {
      return tlsFailure(TLS_ERRORS.version);
    } else if (raw.kind === 'tls-alert') {
      return tlsFailure(`TLS_error:|${raw.alert.replace(/ /g, '_')}:TLS_error_end`);
    } else if (raw.kind === 'reset' || raw.kind === 'closed') {
      return tlsFailure(raw.kind === 'reset' ? TLS_ERRORS.reset : TLS_ERRORS.closed);
    }
  }
  if (options.http) {
    if (reply.kind === 'timeout') {
      return {
        failure: {
          ...terminationFailure(),
          flags: 'UT',
          details: 'response_timeout',
          delayMs: Infinity,
        },
      };
    }
    if (reply.kind !== 'http') return { failure: terminationFailure() };
  }
  return { reply, ...(upstreamIdentity ? { upstreamIdentity } : {}) };
}

/**
 * Sends `payload` to the first endpoint of the cluster, wrapped as its TLS settings say,
 * over a pooled connection for HTTP (Envoy keeps upstream HTTP connections open).
 */
export function sendUpstream(
  ctx: MeshContext,
  proxy: KubeObject,
  cluster: UpstreamCluster,
  endpoints: Endpoint[],
  payload: Payload,
  options: { http: boolean },
): UpstreamResult {
  const endpoint = endpoints[0];
  const how = upstreamWrap(cluster, endpoint);
  if (!endpoint) {
    return {
      endpoint,
      localPort: 0,
      newConnection: false,
      wrap: how,
      failure: {
        flags: 'UH',
        details: 'no_healthy_upstream',
        transportFailure: undefined,
        body: 'no healthy upstream',
        delayMs: 0,
        connectFailed: false,
      },
    };
  }
  const poolKey = options.http
    ? `${proxyKey(proxy)}|${cluster.name}|${endpoint.address.ip}:${endpoint.address.port}|${how.kind}`
    : undefined;
  const pooled = poolKey ? ctx.state.pools.get(poolKey) : undefined;
  const localPort = pooled ?? ctx.state.nextPort();
  const result = exchange(ctx, proxy, localPort, endpoint.address, payload, how, {
    http: options.http,
    connectTimeoutMs: connectTimeoutMs(cluster.rule),
    fresh: pooled === undefined,
  });
  if (poolKey) {
    if (result.failure) ctx.state.pools.delete(poolKey);
    else ctx.state.pools.set(poolKey, localPort);
  }
  return { endpoint, localPort, newConnection: pooled === undefined, wrap: how, ...result };
}
