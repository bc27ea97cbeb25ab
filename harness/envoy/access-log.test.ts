import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type AccessLogEntry,
  parseAccessLog,
  parseAccessLogLine,
  parseUpstreamCluster,
  upstreamClusterName,
} from './access-log.ts';

// Real published data, copied into the repository (fixtures/README.md says from where).
const FIXTURE = new URL('./fixtures/envoy-access-log-lines.txt', import.meta.url);

function fixtureLines(): string[] {
  return readFileSync(FIXTURE, 'utf8')
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '' && !line.startsWith('#'));
}

type Expected = Omit<AccessLogEntry, 'raw'>;

// One expectation per fixture line, in file order, every field spelled out.
const EXPECTED: Expected[] = [
  {
    format: 'text',
    kind: 'http',
    startTime: new Date('2020-11-25T21:26:18.409Z'),
    method: 'GET',
    path: '/status/418',
    protocol: 'HTTP/1.1',
    responseCode: 418,
    responseFlags: undefined,
    responseCodeDetails: 'via_upstream',
    connectionTerminationDetails: undefined,
    upstreamTransportFailureReason: undefined,
    bytesReceived: 0,
    bytesSent: 135,
    duration: 4,
    upstreamServiceTime: 4,
    xForwardedFor: undefined,
    userAgent: 'curl/7.73.0-DEV',
    requestId: '84961386-6d84-929d-98bd-c5aee93b5c88',
    authority: 'httpbin:8000',
    upstreamHost: '10.44.1.27:80',
    upstreamCluster: 'outbound|8000||httpbin.foo.svc.cluster.local',
    upstreamLocalAddress: '10.44.1.23:37652',
    downstreamLocalAddress: '10.0.45.184:8000',
    downstreamRemoteAddress: '10.44.1.23:46520',
    requestedServerName: undefined,
    routeName: 'default',
  },
  {
    format: 'text',
    kind: 'tcp',
    startTime: new Date('2024-01-01T15:47:08.221Z'),
    method: undefined,
    path: undefined,
    protocol: undefined,
    responseCode: 0,
    responseFlags: undefined,
    responseCodeDetails: undefined,
    connectionTerminationDetails: undefined,
    upstreamTransportFailureReason: undefined,
    bytesReceived: 791,
    bytesSent: 2502541,
    duration: 267,
    upstreamServiceTime: undefined,
    xForwardedFor: undefined,
    userAgent: undefined,
    requestId: undefined,
    authority: undefined,
    upstreamHost: '151.101.195.5:443',
    upstreamCluster: 'outbound|443||edition.cnn.com',
    upstreamLocalAddress: '10.42.0.25:43706',
    downstreamLocalAddress: '10.42.0.25:8443',
    downstreamRemoteAddress: '10.42.0.21:53416',
    requestedServerName: 'edition.cnn.com',
    routeName: undefined,
  },
  {
    format: 'text',
    kind: 'tcp',
    startTime: new Date('2024-01-11T21:09:42.835Z'),
    method: undefined,
    path: undefined,
    protocol: undefined,
    responseCode: 0,
    responseFlags: undefined,
    responseCodeDetails: undefined,
    connectionTerminationDetails: undefined,
    upstreamTransportFailureReason: undefined,
    bytesReceived: 839,
    bytesSent: 2504306,
    duration: 231,
    upstreamServiceTime: undefined,
    xForwardedFor: undefined,
    userAgent: undefined,
    requestId: undefined,
    authority: undefined,
    upstreamHost: '151.101.195.5:443',
    upstreamCluster: 'outbound|443||edition.cnn.com',
    upstreamLocalAddress: '172.30.239.8:34470',
    downstreamLocalAddress: '172.30.239.8:443',
    downstreamRemoteAddress: '172.30.239.15:43956',
    requestedServerName: 'edition.cnn.com',
    routeName: undefined,
  },
  {
    // Istio 1.4: Mixer status and failure reason after the flags, route name at the end.
    format: 'text-legacy',
    kind: 'http',
    startTime: new Date('2019-09-03T20:57:49.103Z'),
    method: 'GET',
    path: '/politics',
    protocol: 'HTTP/2',
    responseCode: 301,
    responseFlags: undefined,
    responseCodeDetails: undefined,
    connectionTerminationDetails: undefined,
    upstreamTransportFailureReason: undefined,
    bytesReceived: 0,
    bytesSent: 0,
    duration: 90,
    upstreamServiceTime: 89,
    xForwardedFor: '10.244.2.10',
    userAgent: 'curl/7.64.0',
    requestId: 'ea379962-9b5c-4431-ab66-f01994f5a5a5',
    authority: 'edition.cnn.com',
    upstreamHost: '151.101.65.67:80',
    upstreamCluster: 'outbound|80||edition.cnn.com',
    upstreamLocalAddress: undefined,
    downstreamLocalAddress: '10.244.1.5:80',
    downstreamRemoteAddress: '10.244.2.10:50482',
    requestedServerName: 'edition.cnn.com',
    routeName: undefined,
  },
  {
    // Istio 1.0/1.1: nothing between the flags and the byte counts, no route name.
    format: 'text-legacy',
    kind: 'tcp',
    startTime: new Date('2019-01-02T11:46:46.981Z'),
    method: undefined,
    path: undefined,
    protocol: undefined,
    responseCode: 0,
    responseFlags: undefined,
    responseCodeDetails: undefined,
    connectionTerminationDetails: undefined,
    upstreamTransportFailureReason: undefined,
    bytesReceived: 627,
    bytesSent: 1879689,
    duration: 44,
    upstreamServiceTime: undefined,
    xForwardedFor: undefined,
    userAgent: undefined,
    requestId: undefined,
    authority: undefined,
    upstreamHost: '151.101.129.67:443',
    upstreamCluster: 'outbound|443||edition.cnn.com',
    upstreamLocalAddress: '172.30.109.80:41122',
    downstreamLocalAddress: '172.30.109.80:443',
    downstreamRemoteAddress: '172.30.109.112:59970',
    requestedServerName: 'edition.cnn.com',
    routeName: undefined,
  },
];

/** Compares every key, so a field that is missing or extra fails too. */
function expectEntry(entry: AccessLogEntry | undefined, expected: Expected, raw: string): void {
  expect(entry).toBeDefined();
  const { raw: actualRaw, ...fields } = entry!;
  expect(actualRaw).toBe(raw);
  expect(Object.keys(fields).sort()).toEqual(Object.keys(expected).sort());
  expect(fields).toStrictEqual(expected);
}

describe('parseAccessLogLine on the published fixture lines', () => {
  const lines = fixtureLines();

  it('has an expectation for every fixture line', () => {
    expect(lines).toHaveLength(EXPECTED.length);
  });

  it.each(EXPECTED.map((expected, index) => ({ index, expected })))(
    'fixture line $index parses field by field',
    ({ index, expected }) => {
      const line = lines[index]!;
      expectEntry(parseAccessLogLine(line), expected, line);
    },
  );

  it('parses the whole fixture as a log, skipping the comments', () => {
    const entries = parseAccessLog(readFileSync(FIXTURE, 'utf8'));
    expect(entries.map((e) => e.startTime.toISOString())).toEqual(
      EXPECTED.map((e) => e.startTime.toISOString()),
    );
  });
});

describe('parseAccessLogLine on TEXT lines the fixture lacks', () => {
  it('keeps spaces inside quoted fields such as the user agent', () => {
    const line =
      '[2026-11-02T10:00:00.123Z] "GET /egc/abc?x=1 HTTP/1.1" 200 - via_upstream - "-" 0 612 12 11 "-" "Mozilla/5.0 (X11; Linux x86_64) Gecko" "r-1" "egress.example.test" "172.18.0.5:80" outbound|80||egress.example.test 10.244.0.9:51000 10.244.0.9:8080 10.244.0.12:40000 - egress.example.test:80';
    const entry = parseAccessLogLine(line);
    expect(entry?.userAgent).toBe('Mozilla/5.0 (X11; Linux x86_64) Gecko');
    expect(entry?.path).toBe('/egc/abc?x=1');
    expect(entry?.requestId).toBe('r-1');
    expect(entry?.routeName).toBe('egress.example.test:80');
  });

  it('reads failure details and flags of a rejected request', () => {
    const line =
      '[2026-11-02T10:00:01.000Z] "GET /x HTTP/1.1" 503 UF,URX upstream_reset_before_response_started{connection_failure} - "TLS_error:_268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED" 0 91 5 - "-" "curl/8.10.1" "r-2" "h.test" "1.2.3.4:443" outbound|443|egc|istio-egressgateway.istio-system.svc.cluster.local - 10.96.0.20:443 10.244.0.12:40001 h.test -';
    const entry = parseAccessLogLine(line);
    expect(entry).toMatchObject({
      format: 'text',
      kind: 'http',
      responseCode: 503,
      responseFlags: 'UF,URX',
      responseCodeDetails: 'upstream_reset_before_response_started{connection_failure}',
      upstreamTransportFailureReason:
        'TLS_error:_268435581:SSL_routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED',
      upstreamServiceTime: undefined,
      upstreamLocalAddress: undefined,
      routeName: undefined,
    });
  });

  it('keeps a request rejected before its method was read as http', () => {
    const line =
      '[2026-11-02T10:00:02.000Z] "- - HTTP/1.1" 400 DPE http1.codec_error - "-" 0 11 0 - "-" "-" "-" "-" "-" - - 10.244.0.9:8080 10.244.0.12:40002 - -';
    expect(parseAccessLogLine(line)).toMatchObject({
      kind: 'http',
      method: undefined,
      protocol: 'HTTP/1.1',
      responseFlags: 'DPE',
      upstreamCluster: undefined,
    });
  });

  it('accepts the timestamp prefix of the Kubernetes log API and a trailing CR', () => {
    const line = `2026-11-02T10:00:03.123456789Z ${fixtureLines()[1]!}\r`;
    expect(parseAccessLogLine(line)).toMatchObject({
      kind: 'tcp',
      requestedServerName: 'edition.cnn.com',
    });
  });
});

describe('parseAccessLogLine on JSON lines', () => {
  // The keys and value types Envoy writes for Istio's default JSON format.
  const httpJson = {
    start_time: '2026-11-02T10:00:00.123Z',
    method: 'GET',
    path: '/egc/7f3a',
    protocol: 'HTTP/1.1',
    response_code: 200,
    response_flags: '-',
    response_code_details: 'via_upstream',
    connection_termination_details: null,
    upstream_transport_failure_reason: null,
    bytes_received: 0,
    bytes_sent: 615,
    duration: 7,
    upstream_service_time: '6',
    x_forwarded_for: '10.244.0.12',
    user_agent: 'curl/8.10.1 (x86_64) libcurl',
    request_id: '5a1c2d6e-0000-4000-8000-000000000001',
    authority: 'egress.example.test',
    upstream_host: '172.18.0.5:80',
    upstream_cluster: 'outbound|80||egress.example.test',
    upstream_local_address: '10.244.0.9:51234',
    downstream_local_address: '10.244.0.9:8080',
    downstream_remote_address: '10.244.0.12:40100',
    requested_server_name: null,
    route_name: null,
  };

  it('parses an HTTP entry field by field', () => {
    const line = JSON.stringify(httpJson);
    expectEntry(
      parseAccessLogLine(line),
      {
        format: 'json',
        kind: 'http',
        startTime: new Date('2026-11-02T10:00:00.123Z'),
        method: 'GET',
        path: '/egc/7f3a',
        protocol: 'HTTP/1.1',
        responseCode: 200,
        responseFlags: undefined,
        responseCodeDetails: 'via_upstream',
        connectionTerminationDetails: undefined,
        upstreamTransportFailureReason: undefined,
        bytesReceived: 0,
        bytesSent: 615,
        duration: 7,
        upstreamServiceTime: 6,
        xForwardedFor: '10.244.0.12',
        userAgent: 'curl/8.10.1 (x86_64) libcurl',
        requestId: '5a1c2d6e-0000-4000-8000-000000000001',
        authority: 'egress.example.test',
        upstreamHost: '172.18.0.5:80',
        upstreamCluster: 'outbound|80||egress.example.test',
        upstreamLocalAddress: '10.244.0.9:51234',
        downstreamLocalAddress: '10.244.0.9:8080',
        downstreamRemoteAddress: '10.244.0.12:40100',
        requestedServerName: undefined,
        routeName: undefined,
      },
      line,
    );
  });

  it('parses a TCP (passthrough) entry, numbers given as strings included', () => {
    const line = JSON.stringify({
      ...httpJson,
      method: null,
      path: null,
      protocol: null,
      response_code: '0',
      response_code_details: null,
      bytes_received: '791',
      bytes_sent: '2502541',
      duration: '267',
      upstream_service_time: null,
      x_forwarded_for: null,
      user_agent: null,
      request_id: null,
      authority: null,
      upstream_host: '151.101.195.5:443',
      upstream_cluster: 'outbound|443||edition.cnn.com',
      requested_server_name: 'edition.cnn.com',
    });
    expect(parseAccessLogLine(line)).toMatchObject({
      format: 'json',
      kind: 'tcp',
      method: undefined,
      responseCode: 0,
      bytesReceived: 791,
      bytesSent: 2502541,
      duration: 267,
      upstreamServiceTime: undefined,
      upstreamCluster: 'outbound|443||edition.cnn.com',
      requestedServerName: 'edition.cnn.com',
    });
  });
});

describe('lines that are not access-log entries', () => {
  it.each([
    ['an empty line', ''],
    ['a pilot-agent info line', '2024-01-01T00:00:00.000000Z\tinfo\tEnvoy proxy is ready'],
    [
      'an Envoy info line',
      '2024-01-01T00:00:00.000000Z info ads XDS: Incremental Pushing ConnectedEndpoints:2',
    ],
    [
      'an Envoy bracketed debug line',
      '[2024-01-01 00:00:00.000][15][info][main] [source/server/server.cc:932] all clusters initialized',
    ],
    [
      'a bracketed line that is not a log entry',
      '[2024-01-01T00:00:00.000Z] "GET / HTTP/1.1" something else entirely',
    ],
    ['a JSON agent message', '{"level":"info","time":"2024-01-01T00:00:00Z","msg":"ready"}'],
    ['a JSON array', '[1, 2, 3]'],
    ['broken JSON', '{"start_time": "2024-01-01T00:00:00Z", "response_code": '],
    ['JSON without a start time', '{"response_code": 200, "upstream_cluster": "x"}'],
    [
      'a bad start time',
      '[not-a-time] "- - -" 0 - - - "-" 1 2 3 - "-" "-" "-" "-" "-" - - - - - -',
    ],
  ])('%s', (_name, line) => {
    expect(parseAccessLogLine(line)).toBeUndefined();
  });

  it('parseAccessLog keeps only the entries of a mixed container log', () => {
    const [first, second] = fixtureLines();
    const log = [
      '2024-01-01T00:00:00.000000Z\tinfo\tEnvoy proxy is ready',
      first,
      '',
      '2024-01-01T00:00:01.000000Z\twarn\tenvoy config\tgRPC config stream closed',
      second,
    ].join('\n');
    expect(parseAccessLog(log).map((e) => e.kind)).toEqual(['http', 'tcp']);
  });
});

describe('upstream cluster names', () => {
  it('splits an outbound cluster with and without a subset', () => {
    expect(parseUpstreamCluster('outbound|443||edition.cnn.com')).toEqual({
      direction: 'outbound',
      port: 443,
      subset: undefined,
      host: 'edition.cnn.com',
    });
    expect(
      parseUpstreamCluster('outbound|80|cnn|istio-egressgateway.istio-system.svc.cluster.local'),
    ).toEqual({
      direction: 'outbound',
      port: 80,
      subset: 'cnn',
      host: 'istio-egressgateway.istio-system.svc.cluster.local',
    });
  });

  it('splits an inbound cluster without a host', () => {
    expect(parseUpstreamCluster('inbound|8080||')).toEqual({
      direction: 'inbound',
      port: 8080,
      subset: undefined,
      host: undefined,
    });
  });

  it.each(['PassthroughCluster', 'BlackHoleCluster', 'outbound|http|x|h', 'outbound|80|h', ''])(
    'returns undefined for %j',
    (name) => {
      expect(parseUpstreamCluster(name)).toBeUndefined();
    },
  );

  it('builds the name the parser splits', () => {
    expect(upstreamClusterName({ port: 443, host: 'edition.cnn.com' })).toBe(
      'outbound|443||edition.cnn.com',
    );
    const name = upstreamClusterName({ port: 80, subset: 'cnn', host: 'gw.svc' });
    expect(name).toBe('outbound|80|cnn|gw.svc');
    expect(parseUpstreamCluster(name)).toMatchObject({ port: 80, subset: 'cnn', host: 'gw.svc' });
  });
});
