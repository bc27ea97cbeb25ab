import { describe, expect, it } from 'vitest';
import { parseAccessLogLine } from '../../harness/envoy/access-log.ts';
import { ISTIO_TEXT_ACCESS_LOG_FORMAT } from '../../harness/facts.ts';
import type { KubeObject } from '../types.ts';
import type { AccessLogEntry } from './access-log.ts';
import { formatJson, formatText, renderAccessLog, writeAccessLog } from './access-log.ts';
import type { MeshContext } from './context.ts';
import { readMeshConfig } from './mesh-config.ts';
import {
  DEFAULT_MESH,
  GATEWAY_NAMESPACE,
  GATEWAY_POD,
  MemoryLogs,
  MemoryView,
  gatewayObjects,
  meshConfigMap,
  parseLogLine,
} from './testing.ts';

// Current-format lines from harness/envoy/fixtures/envoy-access-log-lines.txt (published Istio docs).
const FIXTURE_HTTP =
  '[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default';
const FIXTURE_TCP =
  '[2024-01-01T15:47:08.221Z] "- - -" 0 - - - "-" 791 2502541 267 - "-" "-" "-" "-" "151.101.195.5:443" outbound|443||edition.cnn.com 10.42.0.25:43706 10.42.0.25:8443 10.42.0.21:53416 edition.cnn.com -';

const httpEntry: AccessLogEntry = {
  startTime: new Date('2020-11-25T21:26:18.409Z'),
  method: 'GET',
  path: '/status/418',
  protocol: 'HTTP/1.1',
  responseCode: 418,
  responseCodeDetails: 'via_upstream',
  bytesReceived: 0,
  bytesSent: 135,
  durationMs: 4,
  upstreamServiceTimeMs: 4,
  requestHeaders: {
    'user-agent': 'curl/7.73.0-DEV',
    'x-request-id': '84961386-6d84-929d-98bd-c5aee93b5c88',
  },
  authority: 'httpbin:8000',
  upstreamHost: '10.44.1.27:80',
  upstreamCluster: 'outbound|8000||httpbin.foo.svc.cluster.local',
  upstreamLocalAddress: '10.44.1.23:37652',
  downstreamLocalAddress: '10.0.45.184:8000',
  downstreamRemoteAddress: '10.44.1.23:46520',
  routeName: 'default',
};

const tcpEntry: AccessLogEntry = {
  startTime: new Date('2024-01-01T15:47:08.221Z'),
  responseCode: 0,
  bytesReceived: 791,
  bytesSent: 2502541,
  durationMs: 267,
  upstreamHost: '151.101.195.5:443',
  upstreamCluster: 'outbound|443||edition.cnn.com',
  upstreamLocalAddress: '10.42.0.25:43706',
  downstreamLocalAddress: '10.42.0.25:8443',
  downstreamRemoteAddress: '10.42.0.21:53416',
  requestedServerName: 'edition.cnn.com',
};

describe('access-log formats', () => {
  it('renders the published HTTP and TCP lines byte for byte', () => {
    expect(formatText(httpEntry)).toBe(FIXTURE_HTTP);
    expect(formatText(tcpEntry)).toBe(FIXTURE_TCP);
    expect(parseLogLine(FIXTURE_HTTP)?.upstreamCluster).toBe(
      'outbound|8000||httpbin.foo.svc.cluster.local',
    );
  });

  it("renders Istio's JSON encoding: sorted keys, numbers for codes and sizes, null for absent values", () => {
    const json = JSON.parse(formatJson(tcpEntry)) as Record<string, unknown>;
    expect(json).toMatchObject({
      start_time: '2024-01-01T15:47:08.221Z',
      method: null,
      path: null,
      protocol: null,
      response_code: 0,
      bytes_received: 791,
      bytes_sent: 2502541,
      duration: 267,
      upstream_cluster: 'outbound|443||edition.cnn.com',
      requested_server_name: 'edition.cnn.com',
      route_name: null,
    });
    const http = JSON.parse(formatJson(httpEntry)) as Record<string, unknown>;
    expect(http).toMatchObject({
      method: 'GET',
      response_code: 418,
      upstream_service_time: '4',
      user_agent: 'curl/7.73.0-DEV',
    });
  });

  it('honours a custom accessLogFormat', () => {
    expect(
      formatText(httpEntry, '%REQ(:METHOD)% %RESPONSE_CODE% %UPSTREAM_CLUSTER% %REQ(X-UNKNOWN)%'),
    ).toBe('GET 418 outbound|8000||httpbin.foo.svc.cluster.local -');
  });
});

describe('formats Istio configures besides its defaults', () => {
  it("renders Istio's default TEXT format from harness/facts.ts, the newline being Envoy's line end", () => {
    expect(
      renderAccessLog(tcpEntry, {
        encoding: 'TEXT',
        text: ISTIO_TEXT_ACCESS_LOG_FORMAT,
        omitEmptyValues: false,
      }),
    ).toEqual([FIXTURE_TCP]);
  });

  it('omitEmptyValues prints nothing for empty TEXT values and leaves JSON keys out', () => {
    expect(formatText(tcpEntry, '%RESPONSE_FLAGS%|%UPSTREAM_HOST%', true)).toBe(
      '|151.101.195.5:443',
    );
    const json = JSON.parse(
      formatJson(tcpEntry, { flags: '%RESPONSE_FLAGS%', host: '%UPSTREAM_HOST%' }, true),
    ) as Record<string, unknown>;
    expect(json).toEqual({ host: '151.101.195.5:443' });
  });

  it('renders nested JSON labels, constants and operators inside text', () => {
    const json = JSON.parse(
      formatJson(httpEntry, {
        request: { method: '%REQ(:METHOD)%', line: '%REQ(:METHOD)% %REQ(:PATH)%' },
        code: '%RESPONSE_CODE%',
        team: 'platform',
      }),
    ) as Record<string, unknown>;
    expect(json).toEqual({
      code: 418,
      request: { line: 'GET /status/418', method: 'GET' },
      team: 'platform',
    });
  });
});

describe('writeAccessLog: one line per logger Istio gives the proxy', () => {
  const [gatewayPod] = gatewayObjects();

  function write(mesh: Record<string, unknown>, objects: KubeObject[] = []): string[] {
    const view = new MemoryView([meshConfigMap(mesh), ...gatewayObjects(), ...objects]);
    const logs = new MemoryLogs();
    const ctx = {
      view,
      mesh: readMeshConfig(view),
      logs,
      fault: () => false,
    } as unknown as MeshContext;
    writeAccessLog(ctx, gatewayPod!, tcpEntry);
    return logs.of(GATEWAY_NAMESPACE, GATEWAY_POD);
  }

  const telemetry = (name: string, spec: Record<string, unknown>): KubeObject => ({
    apiVersion: 'telemetry.istio.io/v1',
    kind: 'Telemetry',
    metadata: { name, namespace: 'istio-system' },
    spec,
  });

  it("writes Istio's default line for accessLogFile: /dev/stdout, and nothing for a file path", () => {
    expect(write(DEFAULT_MESH)).toEqual([FIXTURE_TCP]);
    expect(write({ ...DEFAULT_MESH, accessLogFile: '/var/log/envoy.log' })).toEqual([]);
  });

  it('writes the custom TEXT of meshConfig.accessLogFormat, which the harness parser cannot read', () => {
    const lines = write({
      ...DEFAULT_MESH,
      accessLogFormat: '%START_TIME% %UPSTREAM_CLUSTER% %RESPONSE_CODE%',
    });
    expect(lines).toEqual(['2024-01-01T15:47:08.221Z outbound|443||edition.cnn.com 0']);
    expect(parseAccessLogLine(lines[0] ?? '')).toBeUndefined();
  });

  it('writes with the providers a Telemetry resource selects, each in its own format', () => {
    const lines = write(
      {
        ...DEFAULT_MESH,
        accessLogFile: '',
        extensionProviders: [
          {
            name: 'platform',
            envoyFileAccessLog: {
              path: '/dev/stdout',
              logFormat: { labels: { sni: '%REQUESTED_SERVER_NAME%' } },
            },
          },
          { name: 'archive', envoyFileAccessLog: { path: '/var/log/archive.log' } },
        ],
      },
      [
        telemetry('mesh-default', {
          accessLogging: [
            { providers: [{ name: 'envoy' }, { name: 'platform' }, { name: 'archive' }] },
          ],
        }),
      ],
    );
    expect(lines).toEqual([FIXTURE_TCP, '{"sni":"edition.cnn.com"}']);
    expect(parseAccessLogLine(lines[1] ?? '')).toBeUndefined();
  });

  it('writes nothing when a Telemetry resource turns logging off, despite accessLogFile', () => {
    expect(
      write(DEFAULT_MESH, [
        telemetry('quiet', { accessLogging: [{ providers: [{ name: 'envoy' }], disabled: true }] }),
      ]),
    ).toEqual([]);
  });
});
