/**
 * What travels over a simulated connection, layer by layer, and what comes back.
 * Proxies relay, wrap (Istio mTLS, TLS origination) or terminate these layers; the
 * client tools (curl, openssl) interpret the reply as the real ones would.
 */
import type { ServerIdentity } from './certs.ts';

/** An HTTP request as a proxy or server sees it. */
export interface HttpRequest {
  method: string;
  /** Path and query, e.g. `/status/418?x=1`. */
  path: string;
  /** `:authority` / `Host`, with a port if the client sent one. */
  authority: string;
  protocol: 'HTTP/1.1' | 'HTTP/2';
  /** Header names lower-cased; `host` is carried in `authority`. */
  headers: Record<string, string>;
  body: string;
}

/** An HTTP response. */
export interface HttpResponse {
  protocol: 'HTTP/1.1' | 'HTTP/2';
  status: number;
  reason: string;
  /** In send order; names lower-cased as Envoy and HTTP/2 emit them. */
  headers: [string, string][];
  body: string;
}

/** The bytes a client writes on a connection, as layers. */
export type Payload =
  | { kind: 'http'; request: HttpRequest }
  | {
      kind: 'tls';
      /** SNI in the ClientHello; absent when the client connected to an IP. */
      sni: string | undefined;
      alpn: string[];
      /** Istio mTLS: the client presents a workload certificate (sidecar origination). */
      istioMutual: boolean;
      /** Application data after the handshake; absent for a bare handshake (openssl s_client). */
      inner: Payload | undefined;
    };

/** Connection-level outcomes, then the data-carrying ones. */
export type Reply = (
  | { kind: 'http'; response: HttpResponse }
  | { kind: 'tls'; server: ServerIdentity; inner: Reply | undefined }
  /** RST to the SYN: nothing listens. */
  | { kind: 'refused' }
  /** The SYN (or the request) goes unanswered: dropped by policy or an unrouted address. */
  | { kind: 'timeout' }
  /** RST after the client sent data. */
  | { kind: 'reset' }
  /** FIN without any data. */
  | { kind: 'closed' }
  /** The TLS peer aborted the handshake with an alert. */
  | { kind: 'tls-alert'; alert: string }
) & {
  /** Milliseconds the reply took (connect timeouts, retries); small latencies are ignored. */
  delayMs?: number;
};

/** An IPv4 address and port. */
export interface Address {
  ip: string;
  port: number;
}

export function formatAddress(address: Address | undefined): string | undefined {
  return address ? `${address.ip}:${address.port}` : undefined;
}

/** The host part of an authority (`host:port` → `host`), lower-cased. */
export function authorityHost(authority: string): string {
  const trimmed = authority.trim().toLowerCase();
  if (trimmed.startsWith('[')) return trimmed.slice(1, trimmed.indexOf(']'));
  const colon = trimmed.lastIndexOf(':');
  return colon >= 0 && /^\d+$/.test(trimmed.slice(colon + 1)) ? trimmed.slice(0, colon) : trimmed;
}

/** Rough wire size of a request, for access-log byte counters. */
export function requestSize(request: HttpRequest): number {
  const head = `${request.method} ${request.path} ${request.protocol}\r\nhost: ${request.authority}\r\n`;
  const headers = Object.entries(request.headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return head.length + headers.length + 2 + request.body.length;
}

/** Rough wire size of a response, headers included. */
export function responseSize(response: HttpResponse): number {
  const head = `${response.protocol} ${response.status} ${response.reason}\r\n`;
  const headers = response.headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return head.length + headers.length + 2 + response.body.length;
}

export function headerValue(response: HttpResponse, name: string): string | undefined {
  return response.headers.find(([key]) => key === name)?.[1];
}

export function setHeader(headers: [string, string][], name: string, value: string): void {
  const index = headers.findIndex(([key]) => key === name);
  if (index >= 0) headers[index] = [name, value];
  else headers.push([name, value]);
}

const REASONS: Record<number, string> = {
  200: 'OK',
  301: 'Moved Permanently',
  302: 'Found',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  426: 'Upgrade Required',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? '';
}

/** HTTP-date, as servers put it in `date:`. */
export function httpDate(now: Date): string {
  return now.toUTCString();
}

/** A response Envoy generates itself (local reply): plain text body, `server: envoy`. */
export function envoyLocalReply(status: number, body: string, now: Date): HttpResponse {
  const headers: [string, string][] = [];
  if (body) headers.push(['content-length', String(body.length)], ['content-type', 'text/plain']);
  else headers.push(['content-length', '0']);
  headers.push(['date', httpDate(now)], ['server', 'envoy']);
  return { protocol: 'HTTP/1.1', status, reason: reasonPhrase(status), headers, body };
}

/** Rough bytes a client sends for a payload (a ClientHello is ~517 bytes with curl's extensions). */
export function payloadBytes(payload: Payload | undefined): number {
  if (!payload) return 0;
  if (payload.kind === 'http') return requestSize(payload.request);
  return 517 + 80 + payloadBytes(payload.inner) + (payload.istioMutual ? 1400 : 0);
}

/** Rough bytes a server sends back for a reply (certificates included). */
export function replyBytes(reply: Reply | undefined): number {
  if (!reply) return 0;
  switch (reply.kind) {
    case 'http':
      return responseSize(reply.response);
    case 'tls': {
      const chain = reply.server.chain.reduce(
        (sum, cert) => sum + Math.round((cert.pem?.length ?? 1200) * 0.72),
        0,
      );
      return 200 + chain + 300 + replyBytes(reply.inner);
    }
    default:
      return 0;
  }
}
