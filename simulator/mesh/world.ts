/**
 * The world outside the mesh and the cluster's name service: which names resolve to
 * what, what lives at an address, and how the external hosts answer.
 */
import type { ClusterView, KubeObject, SimExternalHost } from '../types.ts';
import { externalIdentity } from './certs.ts';
import {
  array,
  integer,
  isIpLiteral,
  namespaceOf,
  podIp,
  record,
  serviceIp,
  spec,
  text,
} from './k8s.ts';
import type { HttpRequest, HttpResponse, Payload, Reply } from './wire.ts';
import { httpDate, reasonPhrase } from './wire.ts';

export const CLUSTER_DOMAIN = 'cluster.local';

/** The header a local-mode external host sets so a client can tell it answered. */
export const HOST_HEADER = 'x-egress-conformance-host';

/** A Service found by a cluster DNS name. */
export function serviceByDnsName(
  view: ClusterView,
  name: string,
  fromNamespace: string,
): KubeObject | undefined {
  const parts = name.toLowerCase().replace(/\.$/, '').split('.');
  const [svc, second] = parts;
  if (!svc) return undefined;
  let namespace: string | undefined;
  if (parts.length === 1) namespace = fromNamespace;
  else if (parts.length === 2) namespace = second;
  else if (parts.length === 3 && parts[2] === 'svc') namespace = second;
  else if (parts.slice(2).join('.') === `svc.${CLUSTER_DOMAIN}`) namespace = second;
  if (!namespace) return undefined;
  return view.get('Service', namespace, svc);
}

/** What a name resolves to from a pod in `fromNamespace`, as CoreDNS plus the outside world answer. */
export function resolveName(
  view: ClusterView,
  externalHosts: readonly SimExternalHost[],
  name: string,
  fromNamespace: string,
): string | undefined {
  const lower = name.toLowerCase().replace(/\.$/, '');
  if (isIpLiteral(lower)) return lower;
  if (lower === 'localhost') return '127.0.0.1';
  const service = serviceByDnsName(view, lower, fromNamespace);
  if (service) return serviceIp(service);
  return externalHosts.find((host) => host.name.toLowerCase() === lower)?.address;
}

/** The thing at an address. */
export type Target =
  | { kind: 'service'; service: KubeObject }
  | { kind: 'pod'; pod: KubeObject }
  | { kind: 'external'; host: SimExternalHost }
  | { kind: 'loopback' }
  | { kind: 'nothing' };

export function targetAt(
  view: ClusterView,
  externalHosts: readonly SimExternalHost[],
  ip: string,
): Target {
  if (ip.startsWith('127.')) return { kind: 'loopback' };
  const external = externalHosts.find((host) => host.address === ip);
  if (external) return { kind: 'external', host: external };
  const service = view.list('Service').find((svc) => serviceIp(svc) === ip);
  if (service) return { kind: 'service', service };
  const pod = view.list('Pod').find((candidate) => podIp(candidate) === ip);
  if (pod) return { kind: 'pod', pod };
  return { kind: 'nothing' };
}

/** A Service port and the pod port it forwards to. */
export interface ServicePort {
  port: number;
  targetPort: number | string;
  name: string;
  appProtocol: string | undefined;
}

export function servicePorts(service: KubeObject): ServicePort[] {
  const out: ServicePort[] = [];
  for (const raw of array(spec(service).ports)) {
    const entry = record(raw);
    const port = integer(entry.port);
    if (port === undefined) continue;
    const target = entry.targetPort;
    out.push({
      port,
      targetPort: integer(target) ?? text(target) ?? port,
      name: text(entry.name) ?? '',
      appProtocol: text(entry.appProtocol),
    });
  }
  return out;
}

/** A named target port resolved against the pod's container ports. */
export function resolveTargetPort(pod: KubeObject, target: number | string): number | undefined {
  if (typeof target === 'number') return target;
  for (const container of array(spec(pod).containers)) {
    for (const raw of array(record(container).ports)) {
      const port = record(raw);
      if (port.name === target) return integer(port.containerPort);
    }
  }
  return undefined;
}

export function serviceNamespaceHost(service: KubeObject): string {
  return `${service.metadata.name}.${namespaceOf(service)}.svc.${CLUSTER_DOMAIN}`;
}

/** A HEAD answer: the GET answer's headers (content-length included) without the body. */
function headOnly(request: HttpRequest, response: HttpResponse): HttpResponse {
  return request.method === 'HEAD' ? { ...response, body: '' } : response;
}

function localAnswer(
  host: SimExternalHost,
  request: HttpRequest,
  scheme: string,
  now: Date,
): HttpResponse {
  const method = request.method === 'HEAD' ? 'GET' : request.method;
  const body = `egress-conformance external host ${host.name}: ${method} ${request.path} over ${scheme}\n`;
  return headOnly(request, {
    protocol: 'HTTP/1.1',
    status: 200,
    reason: 'OK',
    headers: [
      [HOST_HEADER, host.name],
      ['content-type', 'text/plain; charset=utf-8'],
      ['date', httpDate(now)],
      ['content-length', String(body.length)],
    ],
    body,
  });
}

function internetAnswer(
  host: SimExternalHost,
  request: HttpRequest,
  scheme: string,
  now: Date,
): HttpResponse {
  if (scheme === 'http') {
    // edition.cnn.com upgrades every plain-HTTP request to HTTPS.
    return {
      protocol: 'HTTP/1.1',
      status: 301,
      reason: reasonPhrase(301),
      headers: [
        ['content-length', '0'],
        ['location', `https://${host.name}${request.path}`],
        ['accept-ranges', 'bytes'],
        ['date', httpDate(now)],
        ['via', '1.1 varnish'],
        ['set-cookie', 'countryCode=US; Domain=.cnn.com; Path=/; SameSite=None; Secure'],
        ['x-served-by', 'cache-sim-1'],
        ['x-cache', 'HIT'],
      ],
      body: '',
    };
  }
  const body = `<!DOCTYPE html><html lang="en"><head><title>${host.name}${request.path}</title></head><body>${host.name}</body></html>\n`;
  return headOnly(request, {
    protocol: 'HTTP/2',
    status: 200,
    reason: '',
    headers: [
      ['content-type', 'text/html; charset=utf-8'],
      ['cache-control', 'max-age=60'],
      ['date', httpDate(now)],
      ['via', '1.1 varnish'],
      ['x-served-by', 'cache-sim-1'],
      ['content-length', String(body.length)],
    ],
    body,
  });
}

/** How an external host answers whatever arrives on `port`. */
export function externalServe(
  host: SimExternalHost,
  port: number,
  payload: Payload,
  now: Date,
): Reply {
  const answer = host.mode === 'internet' ? internetAnswer : localAnswer;
  if (port === 80) {
    if (payload.kind === 'http')
      return { kind: 'http', response: answer(host, payload.request, 'http', now) };
    // A ClientHello is not HTTP: the server answers 400 in plain text and closes.
    return {
      kind: 'http',
      response: {
        protocol: 'HTTP/1.1',
        status: 400,
        reason: 'Bad Request',
        headers: [
          ['connection', 'close'],
          ['content-length', '0'],
        ],
        body: '',
      },
    };
  }
  if (port === 443) {
    // Plain bytes where a ClientHello is expected: the TLS server drops the connection.
    if (payload.kind !== 'tls') return { kind: 'reset' };
    const server = externalIdentity(host);
    const inner = payload.inner;
    if (!inner) return { kind: 'tls', server, inner: undefined };
    if (inner.kind !== 'http') return { kind: 'tls', server, inner: { kind: 'closed' } };
    const response = answer(host, inner.request, 'https', now);
    // The host speaks HTTP/2 only if the client offered it in ALPN.
    const http2 = response.protocol === 'HTTP/2' && payload.alpn.includes('h2');
    const negotiated: HttpResponse = http2
      ? response
      : { ...response, protocol: 'HTTP/1.1', reason: reasonPhrase(response.status) };
    return { kind: 'tls', server, inner: { kind: 'http', response: negotiated } };
  }
  return { kind: 'refused' };
}
