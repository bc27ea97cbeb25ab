/**
 * Parses the Envoy access-log lines Istio proxies write to stdout, in the three shapes
 * a cluster may produce: the current TEXT format (Istio 1.9+), the older TEXT formats
 * (before 1.9) and Istio's default JSON encoding. Anything else in the container log
 * (pilot-agent and Envoy's own messages) is not an entry and parses as `undefined`.
 */

/** Which of Istio's access-log encodings a line was written in. */
export type AccessLogFormat = 'text' | 'text-legacy' | 'json';

/** `http` for an HTTP request, `tcp` for a TCP proxy session (TLS passthrough logs as TCP). */
export type AccessLogKind = 'http' | 'tcp';

/** One access-log entry; Envoy's `-` (and JSON `null`) become `undefined`. */
export interface AccessLogEntry {
  format: AccessLogFormat;
  kind: AccessLogKind;
  startTime: Date;
  method: string | undefined;
  /** The original path (`X-ENVOY-ORIGINAL-PATH` before rewrites), query string included. */
  path: string | undefined;
  protocol: string | undefined;
  /** `0` when no HTTP response was sent, which is every TCP entry. */
  responseCode: number | undefined;
  /** Envoy's short flags, comma-separated as logged (`UF,URX`, `NR`). */
  responseFlags: string | undefined;
  responseCodeDetails: string | undefined;
  connectionTerminationDetails: string | undefined;
  upstreamTransportFailureReason: string | undefined;
  bytesReceived: number | undefined;
  bytesSent: number | undefined;
  /** Milliseconds. */
  duration: number | undefined;
  /** Milliseconds, from the `x-envoy-upstream-service-time` response header. */
  upstreamServiceTime: number | undefined;
  xForwardedFor: string | undefined;
  userAgent: string | undefined;
  requestId: string | undefined;
  authority: string | undefined;
  upstreamHost: string | undefined;
  /** Istio's cluster name, e.g. `outbound|443||edition.cnn.com`; see {@link parseUpstreamCluster}. */
  upstreamCluster: string | undefined;
  upstreamLocalAddress: string | undefined;
  downstreamLocalAddress: string | undefined;
  downstreamRemoteAddress: string | undefined;
  /** The SNI the downstream connection presented. */
  requestedServerName: string | undefined;
  routeName: string | undefined;
  /** The line as read, for evidence in reports. */
  raw: string;
}

// The Kubernetes log API prefixes each line with an RFC 3339 timestamp when asked for
// `timestamps=true`; accepting it keeps the parser independent of how the log was read.
const KUBE_TIMESTAMP_PREFIX =
  /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) (?=[[{])/;
const TEXT_START = /^\[([^\]]+)\] /;
const UNSIGNED = /^\d+$/;

/** Parses one access-log line, or returns undefined for anything that is not one. */
export function parseAccessLogLine(line: string): AccessLogEntry | undefined {
  const raw = line.replace(/\r?\n$/, '').replace(/\r$/, '');
  const text = raw.trim().replace(KUBE_TIMESTAMP_PREFIX, '');
  if (text.startsWith('{')) return parseJsonLine(text, raw);
  if (text.startsWith('[')) return parseTextLine(text, raw);
  return undefined;
}

/** Parses every access-log line of a container log, skipping the proxy's other output. */
export function parseAccessLog(text: string): AccessLogEntry[] {
  const entries: AccessLogEntry[] = [];
  for (const line of text.split(/\r?\n/)) {
    const entry = parseAccessLogLine(line);
    if (entry) entries.push(entry);
  }
  return entries;
}

interface Token {
  value: string;
  quoted: boolean;
}

/**
 * Splits the part after `[START_TIME] ` into bare and quoted tokens. A quoted token ends
 * at a quote followed by a space or the end of the line, because Envoy does not escape
 * quotes inside values (a user agent may contain one).
 */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === ' ') {
      i++;
    } else if (text[i] === '"') {
      let end = text.indexOf('"', i + 1);
      while (end >= 0 && end + 1 < text.length && text[end + 1] !== ' ') {
        end = text.indexOf('"', end + 1);
      }
      if (end < 0) end = text.length;
      tokens.push({ value: text.slice(i + 1, end), quoted: true });
      i = end + 1;
    } else {
      const space = text.indexOf(' ', i);
      const end = space < 0 ? text.length : space;
      tokens.push({ value: text.slice(i, end), quoted: false });
      i = end;
    }
  }
  return tokens;
}

/**
 * The TEXT formats share a skeleton and differ only in what sits between RESPONSE_FLAGS
 * and BYTES_RECEIVED, and in a trailing ROUTE_NAME:
 *
 *   1.9+:     CODE FLAGS DETAILS TERMINATION "FAILURE_REASON" … SNI ROUTE
 *   1.3–1.8:  CODE FLAGS "MIXER_STATUS" "FAILURE_REASON" …      SNI ROUTE
 *   ≤1.2:     CODE FLAGS …                                      SNI
 *
 * The run of five quoted fields (X-FORWARDED-FOR … UPSTREAM_HOST) is the anchor: the last
 * quoted token is UPSTREAM_HOST, and everything else is counted from it.
 */
function parseTextLine(text: string, raw: string): AccessLogEntry | undefined {
  const start = TEXT_START.exec(text);
  if (!start?.[1]) return undefined;
  const startTime = parseTime(start[1]);
  if (!startTime) return undefined;

  const [request, ...rest] = tokenize(text.slice(start[0].length));
  if (!request?.quoted) return undefined;

  let upstreamHostAt = -1;
  rest.forEach((token, index) => {
    if (token.quoted) upstreamHostAt = index;
  });
  const xffAt = upstreamHostAt - 4;
  const bytesReceivedAt = xffAt - 4;
  const middle = rest.slice(2, bytesReceivedAt);
  const trailing = rest.slice(upstreamHostAt + 1);
  if (
    bytesReceivedAt < 2 ||
    !rest.slice(xffAt, upstreamHostAt + 1).every((t) => t.quoted) ||
    rest.slice(0, 2).some((t) => t.quoted) ||
    rest.slice(bytesReceivedAt, xffAt).some((t) => t.quoted) ||
    (trailing.length !== 5 && trailing.length !== 6) ||
    trailing.some((t) => t.quoted)
  ) {
    return undefined;
  }

  let format: AccessLogFormat;
  let responseCodeDetails: string | undefined;
  let connectionTerminationDetails: string | undefined;
  let upstreamTransportFailureReason: string | undefined;
  const [m0, m1, m2] = middle;
  if (middle.length === 3 && m0 && m1 && m2 && !m0.quoted && !m1.quoted && m2.quoted) {
    format = 'text';
    responseCodeDetails = dash(m0.value);
    connectionTerminationDetails = dash(m1.value);
    upstreamTransportFailureReason = dash(m2.value);
  } else if (middle.length === 2 && m0?.quoted && m1?.quoted) {
    // m0 is Mixer's policy status, meaningless since Mixer was removed in 1.8.
    format = 'text-legacy';
    upstreamTransportFailureReason = dash(m1.value);
  } else if (middle.length === 0) {
    format = 'text-legacy';
  } else {
    return undefined;
  }

  const field = (index: number): string | undefined => dash(rest[index]?.value);
  const responseCode = count(field(0));
  const bytesReceived = count(field(bytesReceivedAt));
  const bytesSent = count(field(bytesReceivedAt + 1));
  const duration = count(field(bytesReceivedAt + 2));
  // A line that has the shape but not these numbers is someone else's bracketed message.
  if (responseCode === undefined || bytesReceived === undefined || bytesSent === undefined) {
    return undefined;
  }

  const { method, path, protocol } = splitRequestLine(request.value);
  const after = upstreamHostAt + 1;
  return {
    format,
    kind: kindOf(method, protocol),
    startTime,
    method,
    path,
    protocol,
    responseCode,
    responseFlags: field(1),
    responseCodeDetails,
    connectionTerminationDetails,
    upstreamTransportFailureReason,
    bytesReceived,
    bytesSent,
    duration,
    upstreamServiceTime: count(field(bytesReceivedAt + 3)),
    xForwardedFor: field(xffAt),
    userAgent: field(xffAt + 1),
    requestId: field(xffAt + 2),
    authority: field(xffAt + 3),
    upstreamHost: field(upstreamHostAt),
    upstreamCluster: field(after),
    upstreamLocalAddress: field(after + 1),
    downstreamLocalAddress: field(after + 2),
    downstreamRemoteAddress: field(after + 3),
    requestedServerName: field(after + 4),
    routeName: field(after + 5),
    raw,
  };
}

/** `"GET /path HTTP/1.1"`, or `"- - -"` for TCP. */
function splitRequestLine(requestLine: string): {
  method: string | undefined;
  path: string | undefined;
  protocol: string | undefined;
} {
  const first = requestLine.indexOf(' ');
  const last = requestLine.lastIndexOf(' ');
  if (first < 0 || last === first) {
    return { method: dash(requestLine), path: undefined, protocol: undefined };
  }
  return {
    method: dash(requestLine.slice(0, first)),
    path: dash(requestLine.slice(first + 1, last)),
    protocol: dash(requestLine.slice(last + 1)),
  };
}

// Keys whose presence tells an access-log object from a JSON-encoded agent message.
const JSON_ENTRY_KEYS = ['response_code', 'upstream_cluster', 'bytes_received', 'bytes_sent'];

function parseJsonLine(text: string, raw: string): AccessLogEntry | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const record = parsed as Record<string, unknown>;
  if (!JSON_ENTRY_KEYS.some((key) => key in record)) return undefined;
  const startTime = parseTime(jsonString(record.start_time));
  if (!startTime) return undefined;

  const str = (key: string): string | undefined => jsonString(record[key]);
  const num = (key: string): number | undefined => jsonCount(record[key]);
  const method = str('method');
  const protocol = str('protocol');
  return {
    format: 'json',
    kind: kindOf(method, protocol),
    startTime,
    method,
    path: str('path'),
    protocol,
    responseCode: num('response_code'),
    responseFlags: str('response_flags'),
    responseCodeDetails: str('response_code_details'),
    connectionTerminationDetails: str('connection_termination_details'),
    upstreamTransportFailureReason: str('upstream_transport_failure_reason'),
    bytesReceived: num('bytes_received'),
    bytesSent: num('bytes_sent'),
    duration: num('duration'),
    upstreamServiceTime: num('upstream_service_time'),
    xForwardedFor: str('x_forwarded_for'),
    userAgent: str('user_agent'),
    requestId: str('request_id'),
    authority: str('authority'),
    upstreamHost: str('upstream_host'),
    upstreamCluster: str('upstream_cluster'),
    upstreamLocalAddress: str('upstream_local_address'),
    downstreamLocalAddress: str('downstream_local_address'),
    downstreamRemoteAddress: str('downstream_remote_address'),
    requestedServerName: str('requested_server_name'),
    routeName: str('route_name'),
    raw,
  };
}

/**
 * TCP entries have neither method nor protocol; an HTTP request Envoy rejected before
 * reading its method (`"- - HTTP/1.1" 400 DPE`) still has a protocol and stays `http`.
 */
function kindOf(method: string | undefined, protocol: string | undefined): AccessLogKind {
  return method === undefined && protocol === undefined ? 'tcp' : 'http';
}

function dash(value: string | undefined): string | undefined {
  return value === undefined || value === '-' || value === '' ? undefined : value;
}

function count(value: string | undefined): number | undefined {
  return value !== undefined && UNSIGNED.test(value) ? Number(value) : undefined;
}

function jsonString(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' ? dash(value) : undefined;
}

// Envoy writes typed numbers for the counters but strings for header values such as
// upstream_service_time; accept both.
function jsonCount(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  return count(jsonString(value));
}

function parseTime(value: string | undefined): Date | undefined {
  if (!value || !/^\d{4}-\d\d-\d\dT/.test(value)) return undefined;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? undefined : time;
}

/** The parts of an Istio cluster name `direction|port|subset|host`. */
export interface UpstreamCluster {
  direction: 'outbound' | 'inbound';
  port: number;
  subset: string | undefined;
  /** Empty for newer inbound clusters (`inbound|8080||`). */
  host: string | undefined;
}

/** Splits an Istio cluster name; undefined for Envoy's own clusters (`PassthroughCluster`, `BlackHoleCluster`). */
export function parseUpstreamCluster(name: string): UpstreamCluster | undefined {
  const parts = name.split('|');
  if (parts.length !== 4) return undefined;
  const [direction, port, subset, host] = parts;
  if ((direction !== 'outbound' && direction !== 'inbound') || !port || !UNSIGNED.test(port)) {
    return undefined;
  }
  return { direction, port: Number(port), subset: subset || undefined, host: host || undefined };
}

/** Builds the cluster name Istio gives `host:port` (and a subset), as it appears in logs and stats. */
export function upstreamClusterName({
  direction = 'outbound',
  port,
  subset,
  host,
}: {
  direction?: UpstreamCluster['direction'];
  port: number;
  subset?: string | undefined;
  host: string;
}): string {
  return `${direction}|${port}|${subset ?? ''}|${host}`;
}
