/**
 * One proxy hop, HTTP (connection manager + router) or TCP (tcp_proxy): forward to the
 * chosen cluster or answer locally, then write the access-log entry and count, as
 * Envoy does once the stream ends.
 */
import { randomUUID } from 'node:crypto';
import type { KubeObject } from '../types.ts';
import type { AccessLogEntry } from './access-log.ts';
import { writeAccessLog } from './access-log.ts';
import type { MeshContext } from './context.ts';
import { podIp } from './k8s.ts';
import type { ClusterLookup, Exchange, UpstreamWrap } from './proxy.ts';
import { endpointsOf, exchange, sendUpstream } from './proxy.ts';
import { protocolFamily } from './registry.ts';
import type { MeshService } from './registry.ts';
import { countUpstream, recordRequestMetric, recordTcpMetric } from './telemetry.ts';
import type { Address, HttpRequest, HttpResponse, Payload, Reply } from './wire.ts';
import {
  authorityHost,
  envoyLocalReply,
  formatAddress,
  payloadBytes,
  reasonPhrase,
  replyBytes,
  requestSize,
  responseSize,
  setHeader,
} from './wire.ts';

/**
 * Envoy's response flag for a route to a cluster the proxy does not have. Envoy has
 * printed `NC` since 1.16 (istio/istio#49717 shows `503 NC cluster_not_found`); older
 * releases printed `NR`.
 */
export const CLUSTER_NOT_FOUND_FLAG = 'NC';

/** Milliseconds one proxy adds to a request's duration. */
const PROXY_LATENCY_MS = 1;

/** What one send upstream produced, through a cluster or straight to the original destination. */
type Sent = Exchange & {
  endpoint: { address: Address } | undefined;
  localPort: number;
  newConnection: boolean;
  wrap?: UpstreamWrap;
};

/** Where an HTTP request arrived and how the proxy presents itself. */
export interface HttpHop {
  proxy: KubeObject;
  request: HttpRequest;
  downstreamLocal: Address;
  downstreamRemote: Address;
  /** SNI of the TLS the request arrived in (gateway mTLS), else undefined. */
  sni: string | undefined;
  routeName: string;
  /** Gateways set `x-forwarded-for` (use_remote_address); sidecars' outbound do not. */
  appendForwardedFor: boolean;
  serverHeader: string;
  /** The request arrived over Istio mTLS (for metrics). */
  mtls: boolean;
}

/** Where a request or connection goes: a cluster of the proxy, or the original destination (PassthroughCluster). */
export type UpstreamTarget =
  | { kind: 'cluster'; lookup: ClusterLookup; originalDestination?: Address }
  | { kind: 'passthrough'; address: Address };

function baseEntry(
  ctx: MeshContext,
  hop: HttpHop,
  headers: Record<string, string>,
): AccessLogEntry {
  return {
    startTime: ctx.now,
    method: hop.request.method,
    path: hop.request.path,
    protocol: hop.request.protocol,
    responseCode: 0,
    bytesReceived: hop.request.body.length,
    bytesSent: 0,
    durationMs: 0,
    requestHeaders: headers,
    authority: hop.request.authority,
    downstreamLocalAddress: formatAddress(hop.downstreamLocal),
    downstreamRemoteAddress: formatAddress(hop.downstreamRemote),
    requestedServerName: hop.sni,
    routeName: hop.routeName,
  };
}

/** The request as the router sends it upstream: request id, forwarding headers, protocol. */
function upstreamRequest(hop: HttpHop, protocol: HttpRequest['protocol']): HttpRequest {
  const headers = { ...hop.request.headers };
  headers['x-request-id'] ??= randomUUID();
  headers['x-forwarded-proto'] ??= 'http';
  if (hop.appendForwardedFor) {
    const previous = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = previous
      ? `${previous}, ${hop.downstreamRemote.ip}`
      : hop.downstreamRemote.ip;
    headers['x-envoy-external-address'] ??= hop.downstreamRemote.ip;
  }
  headers['x-envoy-attempt-count'] = '1';
  return { ...hop.request, protocol, headers };
}

function downstreamResponse(
  hop: HttpHop,
  upstream: HttpResponse,
  serviceTimeMs: number,
): HttpResponse {
  const headers = upstream.headers.map(([name, value]): [string, string] => [name, value]);
  setHeader(headers, 'x-envoy-upstream-service-time', String(serviceTimeMs));
  setHeader(headers, 'server', hop.serverHeader);
  const protocol = hop.request.protocol;
  return {
    ...upstream,
    protocol,
    reason: protocol === 'HTTP/2' ? '' : reasonPhrase(upstream.status) || upstream.reason,
    headers,
  };
}

/** Answers the request from the proxy itself (404 NR, 503 NC, direct responses) and logs it. */
export function localHttpReply(
  ctx: MeshContext,
  hop: HttpHop,
  reply: {
    status: number;
    flags?: string;
    details: string;
    body: string;
    location?: string;
    upstreamCluster?: string;
    upstreamHost?: string;
    transportFailure?: string;
    delayMs?: number;
  },
): Reply {
  const response = envoyLocalReply(reply.status, reply.body, ctx.now);
  if (reply.location) response.headers.unshift(['location', reply.location]);
  response.protocol = hop.request.protocol;
  if (response.protocol === 'HTTP/2') response.reason = '';
  const delayMs = (reply.delayMs ?? 0) + PROXY_LATENCY_MS;
  const headers = upstreamRequest(hop, hop.request.protocol).headers;
  writeAccessLog(ctx, hop.proxy, {
    ...baseEntry(ctx, hop, headers),
    responseCode: reply.status,
    responseFlags: reply.flags,
    responseCodeDetails: reply.details,
    upstreamTransportFailureReason: reply.transportFailure,
    bytesSent: response.body.length,
    durationMs: Math.round(delayMs),
    upstreamCluster: reply.upstreamCluster,
    upstreamHost: reply.upstreamHost,
  });
  recordRequestMetric(ctx, hop.proxy, {
    service: undefined,
    host: authorityHost(hop.request.authority),
    status: reply.status,
    flags: reply.flags ?? '-',
    mtls: hop.mtls,
  });
  return { kind: 'http', response, delayMs };
}

/** Sends to the target: an endpoint of the cluster, or the original destination (PassthroughCluster). */
function send(
  ctx: MeshContext,
  proxy: KubeObject,
  target: UpstreamTarget,
  payload: Payload,
  http: boolean,
): Sent {
  if (target.kind === 'cluster') {
    if (!target.lookup.ok) throw new Error('send() needs a cluster the proxy has');
    const cluster = target.lookup.cluster;
    const endpoints = endpointsOf(ctx, proxy, cluster, target.originalDestination);
    return sendUpstream(ctx, proxy, cluster, endpoints, payload, { http });
  }
  const localPort = ctx.state.nextPort();
  const how = { kind: 'plain' } as const;
  return {
    endpoint: { address: target.address },
    localPort,
    newConnection: true,
    wrap: how,
    ...exchange(ctx, proxy, localPort, target.address, payload, how, {
      http,
      // Istio's default connect timeout applies to PassthroughCluster too.
      connectTimeoutMs: 10_000,
      fresh: true,
    }),
  };
}

function upstreamProtocol(
  service: MeshService | undefined,
  portProtocol: string | undefined,
  fallback: HttpRequest['protocol'],
): HttpRequest['protocol'] {
  if (!service || !portProtocol) return fallback;
  const upper = portProtocol.toUpperCase();
  if (upper === 'HTTP2' || upper === 'GRPC' || upper === 'GRPC-WEB') return 'HTTP/2';
  return protocolFamily(upper) === 'http' ? 'HTTP/1.1' : fallback;
}

/** Routes the request to its target, logs the entry and counts it; the reply is what the client gets. */
export function forwardHttp(ctx: MeshContext, hop: HttpHop, target: UpstreamTarget): Reply {
  if (target.kind === 'cluster' && !target.lookup.ok) {
    return localHttpReply(ctx, hop, {
      status: 503,
      flags: CLUSTER_NOT_FOUND_FLAG,
      details: 'cluster_not_found',
      body: '',
    });
  }
  const cluster = target.kind === 'cluster' && target.lookup.ok ? target.lookup.cluster : undefined;
  const clusterName = cluster?.name ?? 'PassthroughCluster';
  const request = upstreamRequest(
    hop,
    upstreamProtocol(cluster?.service, cluster?.port.protocol, hop.request.protocol),
  );
  const result = send(ctx, hop.proxy, target, { kind: 'http', request }, true);
  const entry = baseEntry(ctx, hop, request.headers);
  const upstreamHost = formatAddress(result.endpoint?.address);
  const upstreamLocal = result.endpoint ? `${podIp(hop.proxy)}:${result.localPort}` : undefined;
  const failure = result.failure;
  if (failure) {
    countUpstream(ctx, hop.proxy, {
      cluster: clusterName,
      newConnection: false,
      connectFailed: failure.connectFailed,
      txBytes: 0,
      rxBytes: 0,
    });
    if (failure.delayMs === Infinity) {
      // The upstream never answers: the client gives up first and Envoy logs the disconnect.
      writeAccessLog(ctx, hop.proxy, {
        ...entry,
        responseFlags: 'DC',
        responseCodeDetails: 'downstream_remote_disconnect',
        upstreamHost,
        upstreamCluster: clusterName,
        upstreamLocalAddress: upstreamLocal,
      });
      return { kind: 'timeout' };
    }
    return localHttpReply(ctx, hop, {
      status: 503,
      flags: failure.flags,
      details: failure.details,
      body: failure.body,
      upstreamCluster: clusterName,
      ...(upstreamHost ? { upstreamHost } : {}),
      transportFailure: failure.transportFailure,
      delayMs: failure.delayMs,
    });
  }
  const reply = result.reply;
  if (reply?.kind !== 'http') return { kind: 'closed' };
  const serviceTime = Math.max(1, Math.round(reply.delayMs ?? 1));
  const response = downstreamResponse(hop, reply.response, serviceTime);
  const delayMs = serviceTime + PROXY_LATENCY_MS;
  writeAccessLog(ctx, hop.proxy, {
    ...entry,
    responseCode: response.status,
    responseCodeDetails: 'via_upstream',
    bytesSent: response.body.length,
    durationMs: delayMs,
    upstreamServiceTimeMs: serviceTime,
    upstreamHost,
    upstreamCluster: clusterName,
    upstreamLocalAddress: upstreamLocal,
  });
  countUpstream(ctx, hop.proxy, {
    cluster: clusterName,
    newConnection: result.newConnection,
    status: response.status,
    txBytes: requestSize(request),
    rxBytes: responseSize(reply.response),
  });
  recordRequestMetric(ctx, hop.proxy, {
    service: cluster?.service,
    host: cluster?.service.hostname ?? authorityHost(hop.request.authority),
    status: response.status,
    flags: '-',
    mtls: hop.mtls || result.wrap?.kind === 'istio',
  });
  return { kind: 'http', response, delayMs };
}

/** The request the HTTP codec logs for bytes that are not HTTP (`"- - HTTP/1.1"`). */
export const NOT_HTTP: HttpRequest = {
  method: '-',
  path: '-',
  authority: '-',
  protocol: 'HTTP/1.1',
  headers: {},
  body: '',
};

/**
 * The HTTP/1 codec read bytes that are not HTTP (a ClientHello): Envoy answers 400 in
 * plain text, logs `DPE`, and closes.
 */
export function httpCodecError(ctx: MeshContext, hop: HttpHop): Reply {
  return localHttpReply(
    ctx,
    { ...hop, request: NOT_HTTP, routeName: '' },
    {
      status: 400,
      flags: 'DPE',
      details: 'http1.codec_error:HPE_INVALID_METHOD',
      body: '',
    },
  );
}

/** Where a TCP connection arrived. */
export interface TcpHop {
  proxy: KubeObject;
  downstreamLocal: Address;
  downstreamRemote: Address;
  /** The SNI Envoy saw (TLS inspector or the mTLS it terminated). */
  sni: string | undefined;
  mtls: boolean;
}

function tcpEntry(ctx: MeshContext, hop: TcpHop): AccessLogEntry {
  return {
    startTime: ctx.now,
    responseCode: 0,
    bytesReceived: 0,
    bytesSent: 0,
    durationMs: 0,
    downstreamLocalAddress: formatAddress(hop.downstreamLocal),
    downstreamRemoteAddress: formatAddress(hop.downstreamRemote),
    requestedServerName: hop.sni,
  };
}

/** Logs a connection the proxy closed without an upstream (no filter chain, no cluster, BlackHole). */
export function closeTcp(
  ctx: MeshContext,
  hop: TcpHop,
  why: { flags: string; details?: string; upstreamCluster?: string; bytesReceived?: number },
): Reply {
  writeAccessLog(ctx, hop.proxy, {
    ...tcpEntry(ctx, hop),
    responseFlags: why.flags,
    responseCodeDetails: why.details,
    upstreamCluster: why.upstreamCluster,
    bytesReceived: why.bytesReceived ?? 0,
    durationMs: PROXY_LATENCY_MS,
  });
  return { kind: 'closed' };
}

/** Proxies a connection to a cluster (or the original destination) and relays the reply. */
export function forwardTcp(
  ctx: MeshContext,
  hop: TcpHop,
  target: UpstreamTarget,
  payload: Payload,
  options: { transform?: (result: Exchange) => Exchange } = {},
): Reply {
  if (target.kind === 'cluster' && !target.lookup.ok) {
    return closeTcp(ctx, hop, {
      flags: CLUSTER_NOT_FOUND_FLAG,
      upstreamCluster: undefined,
      bytesReceived: 0,
    });
  }
  const cluster = target.kind === 'cluster' && target.lookup.ok ? target.lookup.cluster : undefined;
  const clusterName = cluster?.name ?? 'PassthroughCluster';
  const result = send(ctx, hop.proxy, target, payload, false);
  const transformed = options.transform ? { ...result, ...options.transform(result) } : result;
  const entry = tcpEntry(ctx, hop);
  const upstreamHost = formatAddress(result.endpoint?.address);
  const upstreamLocal = result.endpoint ? `${podIp(hop.proxy)}:${result.localPort}` : undefined;
  const failure = transformed.failure;
  if (failure) {
    countUpstream(ctx, hop.proxy, {
      cluster: clusterName,
      newConnection: false,
      connectFailed: failure.connectFailed,
      txBytes: 0,
      rxBytes: 0,
    });
    writeAccessLog(ctx, hop.proxy, {
      ...entry,
      responseFlags: failure.flags,
      upstreamTransportFailureReason: failure.transportFailure,
      durationMs: Number.isFinite(failure.delayMs)
        ? Math.round(failure.delayMs) + PROXY_LATENCY_MS
        : 0,
      upstreamHost,
      upstreamCluster: clusterName,
    });
    recordTcpMetric(ctx, hop.proxy, {
      service: cluster?.service,
      host: cluster?.service.hostname ?? hop.sni ?? 'unknown',
      flags: failure.flags,
      mtls: hop.mtls,
      sent: 0,
      received: 0,
    });
    return Number.isFinite(failure.delayMs)
      ? { kind: 'closed', delayMs: failure.delayMs }
      : { kind: 'timeout' };
  }
  const reply: Reply = transformed.reply ?? { kind: 'closed' };
  const received = payloadBytes(payload);
  const sent = replyBytes(reply);
  const delayMs = Math.max(1, Math.round(reply.delayMs ?? 1)) + PROXY_LATENCY_MS;
  writeAccessLog(ctx, hop.proxy, {
    ...entry,
    bytesReceived: received,
    bytesSent: sent,
    durationMs: delayMs,
    upstreamHost,
    upstreamCluster: clusterName,
    upstreamLocalAddress: upstreamLocal,
  });
  countUpstream(ctx, hop.proxy, {
    cluster: clusterName,
    newConnection: true,
    txBytes: received,
    rxBytes: sent,
  });
  recordTcpMetric(ctx, hop.proxy, {
    service: cluster?.service,
    host: cluster?.service.hostname ?? hop.sni ?? 'unknown',
    flags: '-',
    mtls: hop.mtls || result.wrap?.kind === 'istio',
    sent,
    received,
  });
  return { ...reply, delayMs };
}
