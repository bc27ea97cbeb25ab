/**
 * Finds the gateway's access-log entries that belong to one request, and renders what
 * the gateway did log when the expected entry is missing, so a failure message shows
 * the evidence instead of just "not found".
 */
import type { AccessLogEntry, AccessLogKind } from './access-log.ts';

/**
 * How far an entry's START_TIME may lie before `since`. The harness takes `since` on its
 * own clock and Envoy stamps on the node's clock; on kind they are the same host, on a
 * remote cluster NTP keeps them within a fraction of a second.
 */
export const DEFAULT_CLOCK_SKEW_MS = 1000;

/** What an entry must have to count as this request's; every given field must match. */
export interface GatewayEntryMatch {
  /** The request's path (the suites use a unique one per request); a query string on the entry is ignored. */
  path?: string;
  /** Compared case-insensitively; when it has no port, a port on the entry is ignored. */
  authority?: string;
  /** Exact Istio cluster name, e.g. `outbound|443||edition.cnn.com`. */
  upstreamCluster?: string;
  /** The SNI, compared case-insensitively. */
  requestedServerName?: string;
  kind?: AccessLogKind;
  /**
   * The client's IP as the gateway's downstream remote address: TLS entries carry no
   * request id, so a TCP entry is attributed to a client by where it came from.
   */
  downstreamIp?: string;
  /** Only entries that started at or after this instant, less `clockSkewMs`. */
  since?: Date;
  /** Defaults to {@link DEFAULT_CLOCK_SKEW_MS}. */
  clockSkewMs?: number;
}

/** The entries, in their original order, that match every criterion given. */
export function findGatewayEntries(
  entries: readonly AccessLogEntry[],
  match: GatewayEntryMatch,
): AccessLogEntry[] {
  return entries.filter((entry) => entryMatches(entry, match));
}

function entryMatches(
  entry: AccessLogEntry,
  {
    path,
    authority,
    upstreamCluster,
    requestedServerName,
    kind,
    downstreamIp,
    since,
    clockSkewMs = DEFAULT_CLOCK_SKEW_MS,
  }: GatewayEntryMatch,
): boolean {
  if (kind !== undefined && entry.kind !== kind) return false;
  if (since !== undefined && entry.startTime.getTime() < since.getTime() - clockSkewMs) {
    return false;
  }
  if (path !== undefined && !pathMatches(entry.path, path)) return false;
  if (authority !== undefined && !authorityMatches(entry.authority, authority)) return false;
  if (upstreamCluster !== undefined && entry.upstreamCluster !== upstreamCluster) return false;
  if (downstreamIp !== undefined && hostOf(entry.downstreamRemoteAddress) !== downstreamIp) {
    return false;
  }
  if (
    requestedServerName !== undefined &&
    entry.requestedServerName?.toLowerCase() !== requestedServerName.toLowerCase()
  ) {
    return false;
  }
  return true;
}

function hostOf(address: string | undefined): string | undefined {
  if (!address) return undefined;
  const colon = address.lastIndexOf(':');
  return colon > 0 ? address.slice(0, colon) : address;
}

function pathMatches(actual: string | undefined, expected: string): boolean {
  if (actual === undefined) return false;
  if (actual === expected) return true;
  return !expected.includes('?') && actual.split('?')[0] === expected;
}

function authorityMatches(actual: string | undefined, expected: string): boolean {
  if (actual === undefined) return false;
  const want = expected.toLowerCase();
  const got = actual.toLowerCase();
  if (got === want || hasPort(want)) return got === want;
  return hasPort(got) && got.slice(0, got.lastIndexOf(':')) === want;
}

// `host:port` or `[v6]:port`; a bare IPv6 literal has colons but no port.
function hasPort(authority: string): boolean {
  return /:\d+$/.test(authority) && (!authority.includes('[') || /\]:\d+$/.test(authority));
}

/** Renders a match for messages, e.g. `http entry with path /x, upstream cluster outbound|80||h`. */
export function describeMatch(match: GatewayEntryMatch): string {
  const parts: string[] = [];
  if (match.path !== undefined) parts.push(`path ${match.path}`);
  if (match.authority !== undefined) parts.push(`authority ${match.authority}`);
  if (match.upstreamCluster !== undefined) parts.push(`upstream cluster ${match.upstreamCluster}`);
  if (match.requestedServerName !== undefined) parts.push(`SNI ${match.requestedServerName}`);
  if (match.since !== undefined) parts.push(`started at or after ${match.since.toISOString()}`);
  const subject = match.kind ? `${match.kind} entry` : 'entry';
  return parts.length > 0 ? `${subject} with ${parts.join(', ')}` : `any ${subject}`;
}

/**
 * Renders entries one per line for failure messages, at most `max` of them, e.g.
 * `2024-01-01T15:47:08.221Z tcp "- - -" 0 flags=- authority=- cluster=outbound|443||h sni=h`.
 */
export function describeEntries(entries: readonly AccessLogEntry[], max = 10): string {
  if (entries.length === 0) return '(no access-log entries)';
  const shown = entries.slice(0, Math.max(0, max)).map(describeEntry);
  const hidden = entries.length - shown.length;
  if (hidden > 0) shown.push(`... and ${hidden} more`);
  return shown.join('\n');
}

function describeEntry(entry: AccessLogEntry): string {
  const request = entry.kind === 'tcp' ? '"- - -"' : `${entry.method ?? '-'} ${entry.path ?? '-'}`;
  const details = entry.responseCodeDetails ? ` details=${entry.responseCodeDetails}` : '';
  return [
    entry.startTime.toISOString(),
    entry.kind,
    request,
    String(entry.responseCode ?? '-'),
    `flags=${entry.responseFlags ?? '-'}${details}`,
    `authority=${entry.authority ?? '-'}`,
    `cluster=${entry.upstreamCluster ?? '-'}`,
    `sni=${entry.requestedServerName ?? '-'}`,
  ].join(' ');
}
