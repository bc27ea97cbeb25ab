/**
 * A stand-in for a suite's environment in the checks' unit tests: curl, the gateway's log
 * and its stats return canned answers, so a check is tested without any cluster.
 */
import { apiVariant } from '../api/index.ts';
import type { CurlResult } from '../curl.ts';
import type { AccessLogEntry } from '../envoy/access-log.ts';
import type { ExternalHost } from '../providers/types.ts';
import type { PrometheusSample } from '../envoy/stats.ts';
import type { Client, GatewayLog, SuiteEnvironment } from '../suite.ts';
import { resolveTimeouts, type TimeoutConfig } from '../timeouts.ts';
import type { GatewayUnderTest } from '../variants.ts';
import { simulatedTarget } from '../reporting/testing.ts';

export const HOST = 'host.egress-conformance.test';
export const HOST_HEADER = 'x-egress-conformance-host';

/** One request the stub's client sent. */
export interface SentRequest {
  url: string;
  headers?: Record<string, string>;
  connectTo?: string[];
}

/** Answers of the stub, each given the requests sent so far (the last is the current one). */
export interface StubAnswers {
  curl?: (request: SentRequest, sent: readonly SentRequest[]) => CurlResult;
  gatewayLog?: (sent: readonly SentRequest[]) => GatewayLog;
  gatewayStats?: (sent: readonly SentRequest[]) => Map<string, number>;
  gatewayMetrics?: (sent: readonly SentRequest[]) => PrometheusSample[];
  /** `pilot-agent request GET <path>` on the gateway pods, by pod. */
  gatewayAdmin?: (path: string) => { pod: string; text: string }[];
  /** The client's own sidecar log (entries since the request). */
  clientProxyLog?: (sent: readonly SentRequest[]) => AccessLogEntry[];
  host?: Partial<ExternalHost>;
  timeouts?: Partial<TimeoutConfig>;
}

/** The stub environment, with what it was asked. */
export type StubEnvironment = SuiteEnvironment & { sent: SentRequest[] };

export const CLIENT: Client = {
  namespace: 'egc-test-client',
  pod: 'curl-1',
  podIp: '10.244.0.7',
  hasSidecar: true,
};

const GATEWAY: GatewayUnderTest = {
  namespace: 'istio-system',
  selector: { key: 'istio', value: 'egressgateway' },
  serviceName: 'istio-egressgateway',
  serviceHost: 'istio-egressgateway.istio-system.svc.cluster.local',
  serviceAccount: 'istio-egressgateway-service-account',
};

/**
 * A SuiteEnvironment-shaped object for the checks: the host answers every request and
 * the gateway logs nothing unless the answers say otherwise. Budgets are short, so a
 * failing check fails in tens of milliseconds.
 */
export function stubEnvironment(answers: StubAnswers = {}): StubEnvironment {
  const host: ExternalHost = {
    name: HOST,
    mode: 'local',
    expect: {
      http: { status: 200, header: { name: HOST_HEADER, value: HOST } },
      https: { status: 200, header: { name: HOST_HEADER, value: HOST } },
    },
    insecure: true,
    ...answers.host,
  };
  const sent: SentRequest[] = [];
  const target = simulatedTarget('/nonexistent/kubeconfig');
  let sequence = 0;
  const env = {
    sent,
    suite: 'stub',
    host,
    gateway: GATEWAY,
    api: apiVariant('istio-api'),
    variantContext: { target, suite: 'stub', host: HOST },
    convergence: [],
    run: {
      runId: 'test',
      target,
      requiredObservations: 3,
      timeouts: resolveTimeouts({
        configPropagation: 2000,
        policyEnforcement: 2000,
        accessLogFlush: 10,
        pollInterval: 1,
        ...answers.timeouts,
      }),
    },
    uniquePath: (label: string) => `/egress-conformance/test/stub/${label}/${(sequence += 1)}`,
    curl: (_client: Client, request: SentRequest) => {
      sent.push(request);
      return Promise.resolve((answers.curl ?? (() => hostAnswer()))(request, sent));
    },
    gatewayLog: () =>
      Promise.resolve(answers.gatewayLog?.(sent) ?? { entries: [], pods: ['gateway-1'] }),
    gatewayStats: () => Promise.resolve(answers.gatewayStats?.(sent) ?? new Map()),
    gatewayMetrics: () => Promise.resolve(answers.gatewayMetrics?.(sent) ?? []),
    gatewayAdmin: (path: string) => Promise.resolve(answers.gatewayAdmin?.(path) ?? []),
    clientProxyLog: () => Promise.resolve(answers.clientProxyLog?.(sent) ?? []),
  };
  return env as unknown as StubEnvironment;
}

/** The external host's own answer (its identifying header), or another with overrides. */
export function hostAnswer(overrides: Partial<CurlResult> = {}): CurlResult {
  return {
    exitCode: 0,
    error: '',
    status: 200,
    headers: { [HOST_HEADER]: HOST },
    body: 'ok',
    remoteIp: '10.96.0.21',
    remotePort: 443,
    scheme: 'https',
    sslVerifyResult: 0,
    certificates: [],
    writeOut: {},
    ...overrides,
  };
}

/** curl failing as it does when nothing answers (exit 7, connection refused). */
export function connectionRefused(): CurlResult {
  return hostAnswer({
    exitCode: 7,
    error: 'Failed to connect',
    status: 0,
    headers: {},
    body: '',
  });
}

/** An access-log entry of the gateway, logged now. */
export function gatewayEntry(fields: Partial<AccessLogEntry>): AccessLogEntry {
  const entry: AccessLogEntry = {
    format: 'text',
    kind: 'http',
    startTime: new Date(),
    method: 'GET',
    path: undefined,
    protocol: 'HTTP/1.1',
    responseCode: 200,
    responseFlags: undefined,
    responseCodeDetails: 'via_upstream',
    connectionTerminationDetails: undefined,
    upstreamTransportFailureReason: undefined,
    bytesReceived: 0,
    bytesSent: 2,
    duration: 3,
    upstreamServiceTime: 2,
    xForwardedFor: undefined,
    userAgent: 'curl/8',
    requestId: undefined,
    authority: HOST,
    upstreamHost: '10.96.0.21:80',
    upstreamCluster: `outbound|80||${HOST}`,
    upstreamLocalAddress: undefined,
    downstreamLocalAddress: undefined,
    downstreamRemoteAddress: `${CLIENT.podIp}:40000`,
    requestedServerName: undefined,
    routeName: undefined,
    raw: '',
    ...fields,
  };
  entry.raw ||= `${entry.kind} ${entry.path ?? '-'} ${entry.upstreamCluster ?? '-'} ${Math.random()}`;
  return entry;
}

/** The path of the last request sent, as the gateway would log it. */
export function lastPath(sent: readonly SentRequest[]): string {
  const last = sent.at(-1);
  return last ? new URL(last.url).pathname : '/';
}
