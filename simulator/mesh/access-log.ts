/**
 * Envoy access-log entries in Istio's formats: the current default TEXT format (or the
 * mesh's `accessLogFormat`), and Istio's default JSON encoding. Values Envoy has not got
 * print as `-` in TEXT and `null` in JSON, as Envoy's formatters do.
 */
import type { KubeObject } from '../types.ts';
import type { MeshContext } from './context.ts';
import { isGatewayPod, namespaceOf } from './k8s.ts';
import { accessLogReachesContainerLog } from './mesh-config.ts';

/** Istio's default TEXT access-log format (current releases). */
export const ISTIO_TEXT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%';

/** Istio's default JSON access-log keys and the Envoy operators behind them. */
export const ISTIO_JSON_FORMAT: Record<string, string> = {
  start_time: '%START_TIME%',
  route_name: '%ROUTE_NAME%',
  method: '%REQ(:METHOD)%',
  path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
  protocol: '%PROTOCOL%',
  response_code: '%RESPONSE_CODE%',
  response_flags: '%RESPONSE_FLAGS%',
  response_code_details: '%RESPONSE_CODE_DETAILS%',
  connection_termination_details: '%CONNECTION_TERMINATION_DETAILS%',
  bytes_received: '%BYTES_RECEIVED%',
  bytes_sent: '%BYTES_SENT%',
  duration: '%DURATION%',
  upstream_service_time: '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%',
  x_forwarded_for: '%REQ(X-FORWARDED-FOR)%',
  user_agent: '%REQ(USER-AGENT)%',
  request_id: '%REQ(X-REQUEST-ID)%',
  authority: '%REQ(:AUTHORITY)%',
  upstream_host: '%UPSTREAM_HOST%',
  upstream_cluster: '%UPSTREAM_CLUSTER_RAW%',
  upstream_local_address: '%UPSTREAM_LOCAL_ADDRESS%',
  downstream_local_address: '%DOWNSTREAM_LOCAL_ADDRESS%',
  downstream_remote_address: '%DOWNSTREAM_REMOTE_ADDRESS%',
  requested_server_name: '%REQUESTED_SERVER_NAME%',
  upstream_transport_failure_reason: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
};

/** One access-log entry; HTTP fields are absent for TCP entries. */
export interface AccessLogEntry {
  startTime: Date;
  method?: string;
  path?: string;
  protocol?: string;
  /** 0 for TCP entries. */
  responseCode: number;
  responseFlags?: string;
  responseCodeDetails?: string;
  connectionTerminationDetails?: string;
  upstreamTransportFailureReason?: string;
  bytesReceived: number;
  bytesSent: number;
  durationMs: number;
  upstreamServiceTimeMs?: number;
  /** Request headers, lower-cased names (user-agent, x-request-id, x-forwarded-for, …). */
  requestHeaders?: Record<string, string>;
  authority?: string;
  upstreamHost?: string;
  upstreamCluster?: string;
  upstreamLocalAddress?: string;
  downstreamLocalAddress?: string;
  downstreamRemoteAddress?: string;
  requestedServerName?: string;
  routeName?: string;
}

const NUMERIC = new Set(['RESPONSE_CODE', 'BYTES_RECEIVED', 'BYTES_SENT', 'DURATION']);

function operatorValue(
  entry: AccessLogEntry,
  operator: string,
  argument: string | undefined,
): string | number | undefined {
  const nonEmpty = (value: string | undefined): string | undefined => (value ? value : undefined);
  switch (operator) {
    case 'START_TIME':
      return entry.startTime.toISOString();
    case 'PROTOCOL':
      return nonEmpty(entry.protocol);
    case 'RESPONSE_CODE':
      return entry.responseCode;
    case 'RESPONSE_FLAGS':
      return nonEmpty(entry.responseFlags);
    case 'RESPONSE_CODE_DETAILS':
      return nonEmpty(entry.responseCodeDetails);
    case 'CONNECTION_TERMINATION_DETAILS':
      return nonEmpty(entry.connectionTerminationDetails);
    case 'UPSTREAM_TRANSPORT_FAILURE_REASON':
      return nonEmpty(entry.upstreamTransportFailureReason);
    case 'BYTES_RECEIVED':
      return entry.bytesReceived;
    case 'BYTES_SENT':
      return entry.bytesSent;
    case 'DURATION':
      return entry.durationMs;
    case 'UPSTREAM_HOST':
      return nonEmpty(entry.upstreamHost);
    case 'UPSTREAM_CLUSTER':
    case 'UPSTREAM_CLUSTER_RAW':
      return nonEmpty(entry.upstreamCluster);
    case 'UPSTREAM_LOCAL_ADDRESS':
      return nonEmpty(entry.upstreamLocalAddress);
    case 'DOWNSTREAM_LOCAL_ADDRESS':
      return nonEmpty(entry.downstreamLocalAddress);
    case 'DOWNSTREAM_REMOTE_ADDRESS':
    case 'DOWNSTREAM_PEER_ADDRESS':
      return nonEmpty(entry.downstreamRemoteAddress);
    case 'REQUESTED_SERVER_NAME':
      return nonEmpty(entry.requestedServerName);
    case 'ROUTE_NAME':
      return nonEmpty(entry.routeName);
    case 'REQ': {
      // `X?Y`: header X, falling back to Y.
      for (const name of (argument ?? '').split('?')) {
        const value = requestHeader(entry, name.toLowerCase());
        if (value) return value;
      }
      return undefined;
    }
    case 'RESP':
      if ((argument ?? '').toLowerCase() === 'x-envoy-upstream-service-time') {
        return entry.upstreamServiceTimeMs === undefined
          ? undefined
          : String(entry.upstreamServiceTimeMs);
      }
      return undefined;
    default:
      return undefined;
  }
}

function requestHeader(entry: AccessLogEntry, name: string): string | undefined {
  if (entry.method === undefined) return undefined;
  switch (name) {
    case ':method':
      return entry.method;
    case ':path':
    case 'x-envoy-original-path':
      return name === ':path' ? entry.path : entry.requestHeaders?.[name];
    case ':authority':
    case 'host':
      return entry.authority;
    default:
      return entry.requestHeaders?.[name];
  }
}

const OPERATOR = /%([A-Z_]+)(?:\(([^)]*)\))?(?::\d+)?%/g;

/** Renders an entry with a TEXT format string (Envoy command operators). */
export function formatText(entry: AccessLogEntry, format: string = ISTIO_TEXT_FORMAT): string {
  return format.replace(OPERATOR, (_match, operator: string, argument: string | undefined) => {
    const value = operatorValue(entry, operator, argument);
    return value === undefined ? '-' : String(value);
  });
}

/** Renders an entry in Istio's JSON encoding: keys sorted as Envoy's Struct output prints them. */
export function formatJson(
  entry: AccessLogEntry,
  format: Record<string, string> = ISTIO_JSON_FORMAT,
): string {
  const out: Record<string, string | number | null> = {};
  for (const key of Object.keys(format).sort()) {
    const template = format[key] ?? '';
    const single = /^%([A-Z_]+)(?:\(([^)]*)\))?(?::\d+)?%$/.exec(template);
    if (single?.[1]) {
      const value = operatorValue(entry, single[1], single[2]);
      out[key] =
        value === undefined ? null : NUMERIC.has(single[1]) ? Number(value) : String(value);
    } else {
      out[key] = formatText(entry, template);
    }
  }
  return JSON.stringify(out);
}

/**
 * Appends the entry to the proxy's `istio-proxy` container log when the mesh config
 * sends access logs to the container's stdout/stderr. The `no-gateway-log` fault
 * silences gateway proxies only.
 */
export function writeAccessLog(ctx: MeshContext, pod: KubeObject, entry: AccessLogEntry): void {
  if (!accessLogReachesContainerLog(ctx.mesh)) return;
  if (ctx.fault('no-gateway-log') && isGatewayPod(pod)) return;
  const line =
    ctx.mesh.accessLogEncoding === 'JSON'
      ? formatJson(entry)
      : formatText(entry, ctx.mesh.accessLogFormat?.replace(/\n$/, '') ?? ISTIO_TEXT_FORMAT);
  ctx.logs.append(namespaceOf(pod), pod.metadata.name, 'istio-proxy', line, entry.startTime);
}
