/**
 * The egress gateway proxy on the inbound side: the listener for the arriving port
 * exists only if a Gateway selecting this pod has a server on it; the server's protocol
 * and TLS mode decide what the bytes must be (plain HTTP, client TLS to pass through by
 * SNI, Istio mTLS to unwrap); then a VirtualService bound to that Gateway routes it.
 */
import type { KubeObject } from '../types.ts';
import type { ServerIdentity } from './certs.ts';
import type { MeshContext } from './context.ts';
import type { HttpHop, TcpHop } from './forwarding.ts';
import {
  closeTcp,
  forwardHttp,
  forwardTcp,
  httpCodecError,
  localHttpReply,
  NOT_HTTP,
} from './forwarding.ts';
import { namespaceOf } from './k8s.ts';
import { workloadIdentity } from './workload-identity.ts';
import type { Exchange } from './proxy.ts';
import { resolveCluster } from './proxy.ts';
import type { GatewayServer } from './registry.ts';
import { gatewayServers, hostMatches, protocolFamily, serverAdmits } from './registry.ts';
import type { MatchedRoute, RouteDestination, RouteScope } from './routing.ts';
import {
  matchHttpRoute,
  matchTcpRoute,
  matchTlsOrTcpRoute,
  virtualServicesInScope,
} from './routing.ts';
import type { Address, HttpRequest, Payload, Reply } from './wire.ts';
import { authorityHost } from './wire.ts';

/** The two ends of the downstream connection. */
export interface DownstreamConnection {
  remote: Address;
  local: Address;
}

interface Inbound {
  ctx: MeshContext;
  gateway: KubeObject;
  connection: DownstreamConnection;
}

const PASSTHROUGH = new Set(['PASSTHROUGH', 'AUTO_PASSTHROUGH']);

function isPlainHttpServer(server: GatewayServer): boolean {
  return protocolFamily(server.protocol) === 'http';
}

function isTlsServer(server: GatewayServer): boolean {
  return server.protocol === 'HTTPS' || server.protocol === 'TLS';
}

function scopeOf(inbound: Inbound, servers: GatewayServer[]): RouteScope {
  return {
    kind: 'gateway',
    refs: [...new Set(servers.map((server) => server.ref))],
    gatewayNamespace: namespaceOf(inbound.gateway),
  };
}

/** The gateway's own workload certificate, presented where it terminates TLS. */
function gatewayIdentity(inbound: Inbound): ServerIdentity {
  return workloadIdentity(inbound.ctx, inbound.gateway);
}

/** Whether a server's hosts admit a VirtualService host (either may be the wildcard) from `vsNamespace`. */
function admitsVirtualServiceHost(
  server: GatewayServer,
  vsHost: string,
  vsNamespace: string,
): boolean {
  return server.hosts.some(
    (entry) =>
      (entry.namespace === '*' || entry.namespace === vsNamespace) &&
      (hostMatches(entry.host, vsHost) || hostMatches(vsHost, entry.host)),
  );
}

/**
 * VirtualServices bound to the servers' Gateways, with a host the servers admit that
 * matches `host` (any host when `host` is undefined or `anyHost` is set).
 */
function boundVirtualServices(
  inbound: Inbound,
  servers: GatewayServer[],
  host: string | undefined,
  anyHost = false,
): KubeObject[] {
  return virtualServicesInScope(
    inbound.ctx.view,
    scopeOf(inbound, servers),
    (vsHost, vsNamespace) => {
      const hostOk = anyHost || host === undefined || hostMatches(vsHost, host);
      return (
        hostOk && servers.some((server) => admitsVirtualServiceHost(server, vsHost, vsNamespace))
      );
    },
  );
}

function httpHop(
  inbound: Inbound,
  request: HttpRequest,
  sni: string | undefined,
  routeName: string,
  mtls: boolean,
): HttpHop {
  return {
    proxy: inbound.gateway,
    request,
    downstreamLocal: inbound.connection.local,
    downstreamRemote: inbound.connection.remote,
    sni,
    routeName,
    appendForwardedFor: true,
    serverHeader: 'istio-envoy',
    mtls,
  };
}

function tcpHop(inbound: Inbound, sni: string | undefined, mtls: boolean): TcpHop {
  return {
    proxy: inbound.gateway,
    downstreamLocal: inbound.connection.local,
    downstreamRemote: inbound.connection.remote,
    sni,
    mtls,
  };
}

/** The `wrong-upstream` fault: the gateway sends what should go to port 80 to port 443. */
function applyWrongUpstream(ctx: MeshContext, destination: RouteDestination): RouteDestination {
  if (!ctx.fault('wrong-upstream') || destination.port !== 80) return destination;
  return { ...destination, port: 443 };
}

/** HTTP on a server: virtual host by authority among the servers' hosts, then the bound VirtualServices. */
function serveHttp(
  inbound: Inbound,
  servers: GatewayServer[],
  request: HttpRequest,
  sni: string | undefined,
  mtls: boolean,
): Reply {
  const { ctx, gateway } = inbound;
  const host = authorityHost(request.authority);
  const admitting = servers.filter((server) => serverAdmits(server, host));
  const notFound = (): Reply =>
    localHttpReply(ctx, httpHop(inbound, request, sni, '', mtls), {
      status: 404,
      flags: 'NR',
      details: 'route_not_found',
      body: '',
    });
  if (admitting.length === 0) return notFound();
  const port = admitting[0]?.number ?? inbound.connection.local.port;
  const vss = boundVirtualServices(inbound, admitting, host);
  const route = matchHttpRoute(vss, { scope: scopeOf(inbound, admitting), port, request });
  if (!route) return notFound();
  if (route.local) {
    return localHttpReply(ctx, httpHop(inbound, request, sni, route.routeName, mtls), {
      status: route.local.status,
      details: 'direct_response',
      body: route.local.body,
      ...(route.local.location ? { location: route.local.location } : {}),
    });
  }
  if (!route.destination) return notFound();
  const destination = applyWrongUpstream(ctx, route.destination);
  return forwardHttp(ctx, httpHop(inbound, request, sni, route.routeName, mtls), {
    kind: 'cluster',
    lookup: resolveCluster(ctx, gateway, destination, port),
  });
}

/** TCP on a server (plain TCP, or what an ISTIO_MUTUAL TLS server unwrapped): VirtualService `tcp` routes. */
function serveTcp(
  inbound: Inbound,
  servers: GatewayServer[],
  payload: Payload,
  sni: string | undefined,
  mtls: boolean,
): Reply {
  const { ctx, gateway } = inbound;
  const port = servers[0]?.number ?? inbound.connection.local.port;
  const vss = boundVirtualServices(inbound, servers, sni);
  const route = matchTcpRoute(vss, { scope: scopeOf(inbound, servers), port, sni });
  if (!route?.destination) {
    return closeTcp(ctx, tcpHop(inbound, sni, mtls), {
      flags: 'NR',
      details: 'filter_chain_not_found',
    });
  }
  return forwardTcp(
    ctx,
    tcpHop(inbound, sni, mtls),
    { kind: 'cluster', lookup: resolveCluster(ctx, gateway, route.destination, port) },
    payload,
  );
}

/** Labels two host names share at their end (`a.b.c` and `x.b.c` share 2). */
function sharedSuffix(a: string, b: string): number {
  const left = a.toLowerCase().split('.').reverse();
  const right = b.toLowerCase().split('.').reverse();
  let count = 0;
  while (count < left.length && left[count] === right[count]) count++;
  return count;
}

/**
 * The `sni-ignored` fault: a connection whose SNI no route matches is still routed, by
 * the tls route of the bound VirtualService whose host looks most like the SNI (on a
 * gateway serving one host: that host, whatever the SNI).
 */
function routeIgnoringSni(
  inbound: Inbound,
  servers: GatewayServer[],
  sni: string | undefined,
  port: number,
): MatchedRoute | undefined {
  const scope = scopeOf(inbound, servers);
  let best: { route: MatchedRoute; score: number } | undefined;
  for (const vs of boundVirtualServices(inbound, servers, undefined, true)) {
    const route = matchTlsOrTcpRoute([vs], { scope, port, sni, ignoreSni: true });
    if (!route?.destination) continue;
    const score = sni ? sharedSuffix(sni, route.destination.host) : 0;
    if (!best || score > best.score) best = { route, score };
  }
  return best?.route;
}

/** PASSTHROUGH: route the client's TLS by SNI with `tls` routes, without touching it. */
function servePassthrough(
  inbound: Inbound,
  servers: GatewayServer[],
  payload: Extract<Payload, { kind: 'tls' }>,
): Reply {
  const { ctx, gateway } = inbound;
  const sni = payload.sni;
  const port = servers[0]?.number ?? inbound.connection.local.port;
  const scope = scopeOf(inbound, servers);
  const route =
    matchTlsOrTcpRoute(boundVirtualServices(inbound, servers, sni), { scope, port, sni }) ??
    (ctx.fault('sni-ignored') ? routeIgnoringSni(inbound, servers, sni, port) : undefined);
  if (!route?.destination) {
    return closeTcp(ctx, tcpHop(inbound, sni, false), {
      flags: 'NR',
      details: 'filter_chain_not_found',
    });
  }
  const lookup = resolveCluster(ctx, gateway, route.destination, port);
  if (!ctx.fault('tls-terminated')) {
    return forwardTcp(ctx, tcpHop(inbound, sni, false), { kind: 'cluster', lookup }, payload);
  }
  // The `tls-terminated` fault: the gateway ends the client's TLS with its own certificate
  // and opens a new TLS session upstream, so the client never sees the host's certificate.
  const identity = gatewayIdentity(inbound);
  const reoriginated: Payload = { ...payload, istioMutual: false };
  return forwardTcp(ctx, tcpHop(inbound, sni, false), { kind: 'cluster', lookup }, reoriginated, {
    transform: (result: Exchange): Exchange => {
      const reply = result.reply;
      if (!reply || reply.kind !== 'tls') return result;
      return { ...result, reply: { kind: 'tls', server: identity, inner: reply.inner } };
    },
  });
}

/** The server that takes a TLS connection: SNI against server hosts (any SNI under `sni-ignored` for passthrough). */
function serverForSni(
  ctx: MeshContext,
  servers: GatewayServer[],
  sni: string | undefined,
): GatewayServer | undefined {
  const tls = servers.filter(isTlsServer);
  const exact = tls.find((server) =>
    server.hosts.some((entry) => sni !== undefined && entry.host === sni),
  );
  const admitted = tls.find((server) =>
    sni === undefined ? serverAdmits(server, undefined) : serverAdmits(server, sni),
  );
  const ignoring = ctx.fault('sni-ignored')
    ? tls.find((server) => PASSTHROUGH.has(server.tlsMode ?? ''))
    : undefined;
  return exact ?? admitted ?? ignoring;
}

/**
 * Handles a connection arriving at the gateway pod on `port` (the pod port: Service
 * targetPort) carrying `payload`.
 */
export function gatewayInbound(
  ctx: MeshContext,
  gateway: KubeObject,
  port: number,
  payload: Payload,
  connection: DownstreamConnection,
): Reply {
  const servers = gatewayServers(ctx.view, gateway).filter((server) => server.listenPort === port);
  // No Gateway server on this port: Envoy has no listener there.
  if (servers.length === 0) return { kind: 'refused' };
  const inbound: Inbound = { ctx, gateway, connection };
  const httpServers = servers.filter(isPlainHttpServer);
  const tcpServers = servers.filter(
    (server) => protocolFamily(server.protocol) === 'tcp' && !isTlsServer(server),
  );

  if (payload.kind === 'http') {
    if (httpServers.length > 0)
      return serveHttp(inbound, httpServers, payload.request, undefined, false);
    const mutual = servers.filter(
      (server) => isTlsServer(server) && server.tlsMode === 'ISTIO_MUTUAL',
    );
    if (ctx.fault('plaintext-accepted') && mutual.length > 0) {
      // The `plaintext-accepted` fault: plain bytes are served as if mTLS had been unwrapped.
      const https = mutual.filter((server) => server.protocol === 'HTTPS');
      if (https.length > 0) return serveHttp(inbound, https, payload.request, undefined, false);
      return serveTcp(inbound, mutual, payload, undefined, false);
    }
    if (tcpServers.length > 0) return serveTcp(inbound, tcpServers, payload, undefined, false);
    // A TLS-only listener finds no filter chain for plaintext and drops the unread request.
    return { kind: 'reset' };
  }

  const sni = payload.sni;
  const server = serverForSni(ctx, servers, sni);
  if (!server) {
    if (httpServers.length > 0) {
      // The HTTP codec reads a ClientHello: 400, in plain text.
      return httpCodecError(ctx, httpHop(inbound, NOT_HTTP, undefined, '', false));
    }
    if (tcpServers.length > 0) return serveTcp(inbound, tcpServers, payload, sni, false);
    return closeTcp(ctx, tcpHop(inbound, sni, false), {
      flags: 'NR',
      details: 'filter_chain_not_found',
    });
  }
  const mode = server.tlsMode ?? '';
  if (PASSTHROUGH.has(mode)) {
    const passthrough = servers.filter(
      (candidate) => isTlsServer(candidate) && PASSTHROUGH.has(candidate.tlsMode ?? ''),
    );
    return servePassthrough(inbound, passthrough, payload);
  }
  if (mode === 'ISTIO_MUTUAL') {
    // Istio mTLS requires the client's workload certificate; a plain TLS client has none.
    if (!payload.istioMutual)
      return { kind: 'tls-alert', alert: 'tlsv13 alert certificate required' };
    const identity = gatewayIdentity(inbound);
    const inner = payload.inner;
    if (!inner) return { kind: 'tls', server: identity, inner: undefined };
    const peers = servers.filter(
      (candidate) => candidate.tlsMode === 'ISTIO_MUTUAL' && candidate.protocol === server.protocol,
    );
    if (server.protocol === 'HTTPS') {
      if (inner.kind !== 'http') {
        const codecError = httpCodecError(ctx, httpHop(inbound, NOT_HTTP, sni, '', true));
        return { kind: 'tls', server: identity, inner: codecError };
      }
      return {
        kind: 'tls',
        server: identity,
        inner: serveHttp(inbound, peers, inner.request, sni, true),
      };
    }
    return { kind: 'tls', server: identity, inner: serveTcp(inbound, peers, inner, sni, true) };
  }
  // SIMPLE/MUTUAL need a credentialName secret the simulated cluster never has: the
  // listener's secret stays warming and the handshake is dropped (as for an unknown mode).
  return { kind: 'closed' };
}
