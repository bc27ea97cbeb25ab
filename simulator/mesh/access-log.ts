/**
 * Envoy access-log entries in the formats Istio configures: its default TEXT format, its
 * default JSON keys, and whatever the mesh config (`accessLogFormat`) or an
 * `envoyFileAccessLog` provider's `logFormat` asks for. Which loggers a proxy has is
 * resolved by the harness's `resolveAccessLogs` from the same upstream facts the harness
 * detects them by (`harness/facts.ts`); each logger writing to `/dev/stdout` or
 * `/dev/stderr` appends its line to the `istio-proxy` container log. Values Envoy has not
 * got print as `-` in TEXT and `null` in JSON (nothing at all with `omitEmptyValues`), as
 * Envoy's formatters do.
 */
import {
  ENVOY_EMPTY_VALUE,
  ISTIO_JSON_ACCESS_LOG_LABELS,
  ISTIO_TEXT_ACCESS_LOG_FORMAT,
} from '../../harness/facts.ts';
import {
  type AccessLogFormatSpec,
  reachesContainerLog,
  resolveAccessLogs,
} from '../../harness/istio/access-log-settings.ts';
import type { KubeObject } from '../types.ts';
import type { MeshContext } from './context.ts';
import { isGatewayPod, labelsOf, namespaceOf } from './k8s.ts';

/** Istio's default TEXT access-log format, without the newline Envoy ends each line with. */
export const ISTIO_TEXT_FORMAT = ISTIO_TEXT_ACCESS_LOG_FORMAT.replace(/\n$/, '');

/** Istio's default JSON access-log keys and the Envoy operators behind them. */
export const ISTIO_JSON_FORMAT: Readonly<Record<string, unknown>> = ISTIO_JSON_ACCESS_LOG_LABELS;

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
const SINGLE_OPERATOR = /^%([A-Z_]+)(?:\(([^)]*)\))?(?::\d+)?%$/;

/** Renders an entry with a TEXT format string (Envoy command operators). */
export function formatText(
  entry: AccessLogEntry,
  format: string = ISTIO_TEXT_FORMAT,
  omitEmptyValues = false,
): string {
  const empty = omitEmptyValues ? ENVOY_EMPTY_VALUE.textOmitted : ENVOY_EMPTY_VALUE.text;
  return format.replace(OPERATOR, (_match, operator: string, argument: string | undefined) => {
    const value = operatorValue(entry, operator, argument);
    return value === undefined ? empty : String(value);
  });
}

type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Renders an entry as a JSON object with the given keys (Istio's by default): keys sorted as
 * Envoy's Struct output prints them, a single operator typed (numbers for codes and sizes),
 * anything else as text, nested objects rendered alike.
 */
export function formatJson(
  entry: AccessLogEntry,
  format: Readonly<Record<string, unknown>> = ISTIO_JSON_FORMAT,
  omitEmptyValues = false,
): string {
  return JSON.stringify(jsonObject(entry, format, omitEmptyValues));
}

function jsonObject(
  entry: AccessLogEntry,
  format: Readonly<Record<string, unknown>>,
  omitEmptyValues: boolean,
): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const key of Object.keys(format).sort()) {
    const template = format[key];
    let value: JsonValue;
    if (typeof template === 'string') {
      const single = SINGLE_OPERATOR.exec(template);
      if (single?.[1]) {
        const found = operatorValue(entry, single[1], single[2]);
        value =
          found === undefined
            ? ENVOY_EMPTY_VALUE.json
            : NUMERIC.has(single[1])
              ? Number(found)
              : String(found);
      } else {
        value = formatText(entry, template, omitEmptyValues);
      }
    } else if (template && typeof template === 'object' && !Array.isArray(template)) {
      value = jsonObject(entry, template as Record<string, unknown>, omitEmptyValues);
    } else {
      value = (template ?? null) as JsonValue;
    }
    if (value === null && omitEmptyValues) continue;
    out[key] = value;
  }
  return out;
}

/** The line(s) one logger writes for an entry: Envoy ends each with the format's newline. */
export function renderAccessLog(entry: AccessLogEntry, format: AccessLogFormatSpec): string[] {
  if (format.encoding === 'JSON') return [formatJson(entry, format.labels, format.omitEmptyValues)];
  const text = formatText(entry, format.text, format.omitEmptyValues);
  return text.replace(/\n$/, '').split('\n');
}

/**
 * Appends the entry to the proxy's `istio-proxy` container log once per logger Istio gives
 * the proxy (mesh config and Telemetry resources) that writes to its stdout/stderr, in that
 * logger's format. The `no-gateway-log` fault silences gateway proxies only.
 */
export function writeAccessLog(ctx: MeshContext, pod: KubeObject, entry: AccessLogEntry): void {
  if (ctx.fault('no-gateway-log') && isGatewayPod(pod)) return;
  const plan = resolveAccessLogs(ctx.mesh.accessLogging, ctx.view.list('Telemetry'), {
    namespace: namespaceOf(pod),
    labels: labelsOf(pod),
  });
  for (const output of plan.outputs) {
    if (!reachesContainerLog(output)) continue;
    for (const line of renderAccessLog(entry, output.format)) {
      ctx.logs.append(namespaceOf(pod), pod.metadata.name, 'istio-proxy', line, entry.startTime);
    }
  }
}
