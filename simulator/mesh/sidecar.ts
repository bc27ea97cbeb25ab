/**
 * The client's sidecar on the outbound path: iptables hands it every TCP connection; it
 * picks a listener by port and protocol (HTTP by Host header, TLS by SNI, TCP by
 * address), applies the VirtualService bound to `mesh`, and forwards, passes through
 * (ALLOW_ANY) or blocks (REGISTRY_ONLY) what it does not know.
 */
import type { KubeObject } from '../types.ts';
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
import {
  annotationsOf,
  ipInCidr,
  isGatewayPod,
  isReady,
  labelsOf,
  mapSelects,
  namespaceOf,
  podIp,
  spec,
  stringMap,
} from './k8s.ts';
import { resolveCluster } from './proxy.ts';
import { outboundTrafficPolicyOf } from './sidecar-scope.ts';
import { UNKNOWN_DESTINATION } from '../../harness/facts/envoy.ts';
import type { MeshService } from './registry.ts';
import { portOf, protocolFamily, serviceForHost, visibleServices } from './registry.ts';
import type { MatchedRoute, RouteDestination } from './routing.ts';
import { matchHttpRoute, matchTlsOrTcpRoute, virtualServicesFor } from './routing.ts';
import type { Address, HttpRequest, Payload, Reply } from './wire.ts';
import { authorityHost } from './wire.ts';

/** Whether the pod's iptables rules send a connection to `dst` through the sidecar. */
export function sidecarCaptures(pod: KubeObject, dst: Address): boolean {
  const annotations = annotationsOf(pod);
  const list = (key: string): string[] =>
    (annotations[key] ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  if (list('traffic.sidecar.istio.io/excludeOutboundPorts').includes(String(dst.port)))
    return false;
  if (
    list('traffic.sidecar.istio.io/excludeOutboundIPRanges').some((cidr) => ipInCidr(dst.ip, cidr))
  ) {
    return false;
  }
  const include = list('traffic.sidecar.istio.io/includeOutboundIPRanges');
  return (
    include.length === 0 || include.includes('*') || include.some((cidr) => ipInCidr(dst.ip, cidr))
  );
}

/** True when `host` is a Kubernetes Service whose pods are gateway proxies. */
function isGatewayService(ctx: MeshContext, services: MeshService[], host: string): boolean {
  const service = serviceForHost(services, host);
  if (service?.source !== 'Service') return false;
  const selector = stringMap(spec(service.object).selector);
  if (Object.keys(selector).length === 0) return false;
  return ctx.view
    .list('Pod', service.namespace)
    .some((pod) => isReady(pod) && isGatewayPod(pod) && mapSelects(selector, labelsOf(pod)));
}

/** The `gateway-bypass` fault: routes to the egress gateway are ignored, traffic goes straight out. */
function bypassed(
  ctx: MeshContext,
  services: MeshService[],
  route: MatchedRoute | undefined,
): boolean {
  const destination = route?.destination;
  return (
    ctx.fault('gateway-bypass') &&
    destination !== undefined &&
    isGatewayService(ctx, services, destination.host)
  );
}

interface Outbound {
  ctx: MeshContext;
  client: KubeObject;
  dst: Address;
  downstreamRemote: Address;
  services: MeshService[];
}

function httpHop(out: Outbound, request: HttpRequest, routeName: string): HttpHop {
  return {
    proxy: out.client,
    request,
    downstreamLocal: out.dst,
    downstreamRemote: out.downstreamRemote,
    sni: undefined,
    routeName,
    appendForwardedFor: false,
    serverHeader: 'envoy',
    mtls: false,
  };
}

function routeHttp(out: Outbound, service: MeshService, request: HttpRequest): Reply {
  const { ctx, client, dst, services } = out;
  const host = service.hostname.includes('*') ? authorityHost(request.authority) : service.hostname;
  const defaultDestination: RouteDestination = {
    host: service.hostname,
    port: dst.port,
    subset: undefined,
  };
  // A sidecar uses one VirtualService per host: the oldest.
  const virtualService = virtualServicesFor(ctx.view, { kind: 'mesh', sourcePod: client }, host)[0];
  let destination = defaultDestination;
  let routeName = 'default';
  if (virtualService) {
    const route = matchHttpRoute([virtualService], {
      scope: { kind: 'mesh', sourcePod: client },
      port: dst.port,
      request,
    });
    if (!route) {
      return localHttpReply(ctx, httpHop(out, request, ''), {
        status: 404,
        flags: 'NR',
        details: 'route_not_found',
        body: '',
      });
    }
    if (route.local) {
      return localHttpReply(ctx, httpHop(out, request, route.routeName), {
        status: route.local.status,
        details: 'direct_response',
        body: route.local.body,
        ...(route.local.location ? { location: route.local.location } : {}),
      });
    }
    if (!bypassed(ctx, services, route)) {
      if (!route.destination) {
        return localHttpReply(ctx, httpHop(out, request, route.routeName), {
          status: 404,
          flags: 'NR',
          details: 'route_not_found',
          body: '',
        });
      }
      destination = route.destination;
      routeName = route.routeName;
    }
  }
  return forwardHttp(ctx, httpHop(out, request, routeName), {
    kind: 'cluster',
    lookup: resolveCluster(ctx, client, destination, dst.port),
    originalDestination: dst,
  });
}

function tcpHop(out: Outbound, sni: string | undefined): TcpHop {
  return {
    proxy: out.client,
    downstreamLocal: out.dst,
    downstreamRemote: out.downstreamRemote,
    sni,
    mtls: false,
  };
}

function routeTcp(
  out: Outbound,
  service: MeshService,
  payload: Payload,
  sni: string | undefined,
): Reply {
  const { ctx, client, dst, services } = out;
  const host = service.hostname.includes('*') && sni ? sni : service.hostname;
  const virtualService = virtualServicesFor(ctx.view, { kind: 'mesh', sourcePod: client }, host)[0];
  const route = virtualService
    ? matchTlsOrTcpRoute([virtualService], {
        scope: { kind: 'mesh', sourcePod: client },
        port: dst.port,
        sni,
      })
    : undefined;
  const destination =
    route?.destination && !bypassed(ctx, services, route)
      ? route.destination
      : { host: service.hostname, port: dst.port, subset: undefined };
  return forwardTcp(
    ctx,
    tcpHop(out, sni),
    {
      kind: 'cluster',
      lookup: resolveCluster(ctx, client, destination, dst.port),
      originalDestination: dst,
    },
    payload,
  );
}

/** Traffic to a destination the registry does not know: PassthroughCluster or BlackHoleCluster. */
function unknownDestination(out: Outbound, payload: Payload, httpListener: boolean): Reply {
  const { ctx, dst } = out;
  // The Sidecar resource selecting the client may override the mesh config's policy.
  const blocked = outboundTrafficPolicyOf(ctx, out.client) === 'REGISTRY_ONLY';
  if (payload.kind === 'http' && httpListener) {
    if (blocked) {
      return localHttpReply(
        ctx,
        httpHop(out, payload.request, UNKNOWN_DESTINATION.blackHoleRoute),
        {
          status: UNKNOWN_DESTINATION.blackHoleHttpStatus,
          details: 'direct_response',
          body: '',
        },
      );
    }
    return forwardHttp(ctx, httpHop(out, payload.request, UNKNOWN_DESTINATION.passthroughRoute), {
      kind: 'passthrough',
      address: dst,
    });
  }
  const sni = payload.kind === 'tls' ? payload.sni : undefined;
  if (blocked)
    // BlackHoleCluster has no endpoints: Envoy's tcp_proxy finds no healthy upstream (UH).
    return closeTcp(ctx, tcpHop(out, sni), {
      flags: 'UH',
      upstreamCluster: UNKNOWN_DESTINATION.blackHoleCluster,
    });
  return forwardTcp(ctx, tcpHop(out, sni), { kind: 'passthrough', address: dst }, payload);
}

/** Whether some visible service has an HTTP port `port` (so Envoy has a 0.0.0.0:port HTTP listener). */
function hasHttpListener(services: MeshService[], port: number): boolean {
  return services.some(
    (service) => protocolFamily(portOf(service, port)?.protocol ?? 'TCP') === 'http',
  );
}

/**
 * Handles a connection the client opened to `dst` (captured by its sidecar) carrying
 * `payload`; `downstreamPort` is the client's ephemeral port.
 */
export function sidecarOutbound(
  ctx: MeshContext,
  client: KubeObject,
  dst: Address,
  payload: Payload,
  downstreamPort: number,
): Reply {
  if (dst.ip.startsWith('127.')) return { kind: 'refused' };
  const services = visibleServices(ctx.view, namespaceOf(client));
  const out: Outbound = {
    ctx,
    client,
    dst,
    downstreamRemote: { ip: podIp(client), port: downstreamPort },
    services,
  };
  const byAddress = services.find(
    (service) => service.addresses.includes(dst.ip) && portOf(service, dst.port),
  );
  const addressFamily = byAddress
    ? protocolFamily(portOf(byAddress, dst.port)?.protocol ?? 'TCP')
    : undefined;

  if (payload.kind === 'http') {
    const host = authorityHost(payload.request.authority);
    const byName = serviceForHost(services, host);
    const namedPort = byName ? portOf(byName, dst.port) : undefined;
    const namedFamily = namedPort ? protocolFamily(namedPort.protocol) : undefined;
    if (byName && (namedFamily === 'http' || namedFamily === 'auto'))
      return routeHttp(out, byName, payload.request);
    if (byAddress && (addressFamily === 'tcp' || addressFamily === 'tls')) {
      return routeTcp(out, byAddress, payload, undefined);
    }
    if (byAddress && host === dst.ip) return routeHttp(out, byAddress, payload.request);
    return unknownDestination(out, payload, hasHttpListener(services, dst.port));
  }

  const sni = payload.sni;
  const byName = sni ? serviceForHost(services, sni) : undefined;
  const namedPort = byName ? portOf(byName, dst.port) : undefined;
  const namedFamily = namedPort ? protocolFamily(namedPort.protocol) : undefined;
  if (byName && (namedFamily === 'tls' || namedFamily === 'tcp'))
    return routeTcp(out, byName, payload, sni);
  if (byName && namedFamily === 'http') {
    // The HTTP listener for that port reads a ClientHello.
    return httpCodecError(ctx, httpHop(out, NOT_HTTP, ''));
  }
  if (byAddress && addressFamily !== 'http') return routeTcp(out, byAddress, payload, sni);
  return unknownDestination(out, payload, false);
}
