import { describe, expect, it } from 'vitest';
import { type AccessLogEntry, parseAccessLog } from './access-log.ts';
import { describeEntries, describeMatch, findGatewayEntries } from './evidence.ts';

// A gateway log around one test: an earlier request, the HTTP request under test, a TLS
// passthrough session, and agent noise.
const LOG = [
  '[2026-11-02T09:59:00.000Z] "GET /egc/old HTTP/1.1" 301 - via_upstream - "-" 0 0 20 19 "10.244.0.12" "curl/8.10.1" "r-0" "edition.cnn.com" "151.101.195.5:80" outbound|80||edition.cnn.com 10.244.0.9:51000 10.244.0.9:8080 10.244.0.12:40000 - -',
  '2026-11-02T10:00:00.100000Z\tinfo\tsome agent message',
  '[2026-11-02T10:00:01.000Z] "GET /egc/7f3a?attempt=1 HTTP/1.1" 301 - via_upstream - "-" 0 0 21 20 "10.244.0.12" "curl/8.10.1" "r-1" "Edition.CNN.com" "151.101.195.5:80" outbound|80||edition.cnn.com 10.244.0.9:51002 10.244.0.9:8080 10.244.0.12:40002 - -',
  '[2026-11-02T10:00:02.000Z] "- - -" 0 - - - "-" 791 2502541 267 - "-" "-" "-" "-" "151.101.195.5:443" outbound|443||edition.cnn.com 10.42.0.25:43706 10.42.0.25:8443 10.42.0.21:53416 edition.cnn.com -',
  '[2026-11-02T10:00:03.000Z] "GET /egc/other HTTP/1.1" 503 NR route_not_found - "-" 0 0 0 - "-" "curl/8.10.1" "r-3" "other.test:8080" "-" - - 10.244.0.9:8080 10.244.0.12:40003 - -',
].join('\n');

const entries = parseAccessLog(LOG);
const since = new Date('2026-11-02T10:00:00.500Z');

function ids(found: AccessLogEntry[]): string[] {
  return found.map((e) => e.requestId ?? e.kind);
}

describe('findGatewayEntries', () => {
  it('finds the HTTP request by its unique path, ignoring its query string', () => {
    expect(ids(findGatewayEntries(entries, { path: '/egc/7f3a' }))).toEqual(['r-1']);
    expect(ids(findGatewayEntries(entries, { path: '/egc/7f3a?attempt=1' }))).toEqual(['r-1']);
    expect(ids(findGatewayEntries(entries, { path: '/egc/7f3a?attempt=2' }))).toEqual([]);
    expect(ids(findGatewayEntries(entries, { path: '/egc/7f' }))).toEqual([]);
  });

  it('combines path, authority, cluster and kind', () => {
    const match = {
      kind: 'http' as const,
      path: '/egc/7f3a',
      authority: 'edition.cnn.com',
      upstreamCluster: 'outbound|80||edition.cnn.com',
    };
    expect(ids(findGatewayEntries(entries, match))).toEqual(['r-1']);
    expect(
      ids(
        findGatewayEntries(entries, { ...match, upstreamCluster: 'outbound|443||edition.cnn.com' }),
      ),
    ).toEqual([]);
    expect(ids(findGatewayEntries(entries, { ...match, kind: 'tcp' }))).toEqual([]);
  });

  it('compares the authority without case and ignores a port only when none was asked for', () => {
    expect(ids(findGatewayEntries(entries, { authority: 'other.test' }))).toEqual(['r-3']);
    expect(ids(findGatewayEntries(entries, { authority: 'other.test:8080' }))).toEqual(['r-3']);
    expect(ids(findGatewayEntries(entries, { authority: 'other.test:80' }))).toEqual([]);
    expect(ids(findGatewayEntries(entries, { authority: 'EDITION.cnn.com', since }))).toEqual([
      'r-1',
    ]);
  });

  it('finds the passthrough session by SNI and cluster', () => {
    const found = findGatewayEntries(entries, {
      kind: 'tcp',
      requestedServerName: 'Edition.cnn.com',
      upstreamCluster: 'outbound|443||edition.cnn.com',
      since,
    });
    expect(found).toHaveLength(1);
    expect(found[0]?.bytesSent).toBe(2502541);
  });

  it("attributes a TCP entry to a client by the gateway's downstream remote address", () => {
    const match = { kind: 'tcp' as const, requestedServerName: 'edition.cnn.com', since };
    expect(findGatewayEntries(entries, { ...match, downstreamIp: '10.42.0.21' })).toHaveLength(1);
    expect(findGatewayEntries(entries, { ...match, downstreamIp: '10.42.0.2' })).toHaveLength(0);
  });

  it('keeps only entries inside the time window, allowing for clock skew', () => {
    expect(ids(findGatewayEntries(entries, { since }))).toEqual(['r-1', 'tcp', 'r-3']);
    const justAfterFirst = new Date('2026-11-02T10:00:01.400Z');
    expect(ids(findGatewayEntries(entries, { since: justAfterFirst }))).toEqual([
      'r-1',
      'tcp',
      'r-3',
    ]);
    expect(ids(findGatewayEntries(entries, { since: justAfterFirst, clockSkewMs: 0 }))).toEqual([
      'tcp',
      'r-3',
    ]);
  });

  it('matches everything with an empty match, nothing in an empty log', () => {
    expect(findGatewayEntries(entries, {})).toHaveLength(4);
    expect(findGatewayEntries([], { path: '/egc/7f3a' })).toEqual([]);
  });
});

describe('describeEntries', () => {
  it('renders one compact line per entry', () => {
    expect(describeEntries(entries.slice(2, 4))).toBe(
      [
        '2026-11-02T10:00:02.000Z tcp "- - -" 0 flags=- authority=- cluster=outbound|443||edition.cnn.com sni=edition.cnn.com',
        '2026-11-02T10:00:03.000Z http GET /egc/other 503 flags=NR details=route_not_found authority=other.test:8080 cluster=- sni=-',
      ].join('\n'),
    );
  });

  it('truncates with the number left out', () => {
    const text = describeEntries(entries, 2);
    const lines = text.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('GET /egc/old 301');
    expect(lines[1]).toContain('GET /egc/7f3a?attempt=1 301');
    expect(lines[2]).toBe('... and 2 more');
  });

  it('says so when there is nothing to show', () => {
    expect(describeEntries([])).toBe('(no access-log entries)');
  });
});

describe('describeMatch', () => {
  it('names every criterion', () => {
    expect(
      describeMatch({
        kind: 'tcp',
        requestedServerName: 'edition.cnn.com',
        upstreamCluster: 'outbound|443||edition.cnn.com',
        since,
      }),
    ).toBe(
      'tcp entry with upstream cluster outbound|443||edition.cnn.com, SNI edition.cnn.com, started at or after 2026-11-02T10:00:00.500Z',
    );
    expect(describeMatch({})).toBe('any entry');
  });
});
