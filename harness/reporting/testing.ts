/** Hand-built runs for the reporting tests: the shapes the CLI and the executor (harness/executor.ts) produce. */
import type { ClusterTarget } from '../providers/types.ts';
import type { CaseResult } from './junit.ts';
import { renderFailure, type FailureFields } from '../errors.ts';
import { createRunReport, type RunReport } from './conformance-report.ts';

/** The token of the sample kubeconfig: it must never reach a report. */
export const TOKEN = 'sim-token-0123456789abcdef';

/** A target as the simulated provider describes it. */
export function simulatedTarget(kubeconfigPath: string): ClusterTarget {
  return {
    kind: 'simulated',
    simulated: true,
    kubeconfigPath,
    kubernetesVersion: 'v1.36.1',
    cni: 'simulated',
    istio: {
      version: '1.31.1',
      revision: 'default',
      namespace: 'istio-system',
      gateway: {
        namespace: 'istio-system',
        serviceName: 'istio-egressgateway',
        selector: { key: 'istio', value: 'egressgateway' },
        serviceAccount: 'istio-egressgateway-service-account',
      },
      accessLog: { enabled: true, encoding: 'TEXT' },
      outboundStatsIncluded: true,
      outboundTrafficPolicy: 'ALLOW_ANY',
      trustDomain: 'cluster.local',
    },
    externalHosts: {
      'http-gateway': {
        name: 'http-gateway.egress-conformance.test',
        mode: 'local',
        expect: { http: { status: 200 }, https: { status: 200 } },
        insecure: true,
      },
    },
  };
}

/** Cases as the executor hands them over: B1 passed, B2 flaky, B3 failed, B4 skipped, B6. */
export function sampleCases(): CaseResult[] {
  return [
    {
      suite: 'http-gateway',
      group: 'http-gateway [mtls disabled, istio-api]',
      name: 'B1.1-2 HTTP to the host gets its answer and the gateway logs it with upstream outbound|80||HOST',
      state: 'passed',
      durationMs: 1200,
      meta: {
        behaviour: 'B1',
        variant: 'mtls disabled, istio-api',
        mtls: 'disabled',
        api: 'istio-api',
        convergence: [{ behaviour: 'B1.1-2', observations: 3, flips: 0, elapsedMs: 900 }],
      },
    },
    {
      suite: 'http-gateway',
      group: 'http-gateway [mtls enabled, istio-api]',
      name: 'B2.1-2 HTTP to the host gets its answer and the gateway logs it with upstream outbound|80||HOST',
      state: 'passed',
      durationMs: 4000,
      meta: {
        behaviour: 'B2',
        variant: 'mtls enabled, istio-api',
        mtls: 'enabled',
        api: 'istio-api',
        convergence: [{ behaviour: 'B2.1-2', observations: 7, flips: 1, elapsedMs: 3500 }],
        flaky: true,
      },
    },
    {
      suite: 'passthrough',
      group: 'passthrough [mtls disabled, istio-api]',
      name: 'B3 negative control: without the VirtualService, TLS to the host leaves no gateway entry',
      state: 'passed',
      durationMs: 800,
      meta: {
        behaviour: 'B3',
        variant: 'mtls disabled, istio-api',
        mtls: 'disabled',
        api: 'istio-api',
        convergence: [{ behaviour: 'B3.control', observations: 3, flips: 0, elapsedMs: 600 }],
      },
    },
    {
      suite: 'passthrough',
      group: 'passthrough [mtls disabled, istio-api] › with Gateway',
      name: 'B3.1 TLS ends at the external host',
      state: 'failed',
      durationMs: 30_000,
      message:
        'Expected TLS to end at the external host in 3 consecutive observations within 30000 ms, but the client saw CN = istio-egressgateway.\nLast observation: …\nHint: tls.mode must be PASSTHROUGH',
      errorName: 'ConformanceFailure',
      meta: {
        behaviour: 'B3',
        variant: 'mtls disabled, istio-api',
        mtls: 'disabled',
        api: 'istio-api',
        diagnostics: [
          'diagnostics/passthrough/index.txt',
          'diagnostics/passthrough/gateway/istio-proxy.log',
        ],
        kept: ['egc-abc123-passthrough-disabled'],
      },
    },
    {
      suite: 'network-policy',
      group: 'network-policy',
      name: 'B4.6 the gateway counter increases',
      state: 'skipped',
      durationMs: 0,
      skipReason: 'cluster.outbound stats are not kept by the proxies (proxyStatsMatcher)',
      meta: {
        behaviour: 'B4',
        variant: 'mtls disabled, istio-api',
        mtls: 'disabled',
        api: 'istio-api',
      },
    },
    {
      suite: 'http-gateway',
      group: 'http-gateway',
      name: 'B6 cleanup: every namespace the suite created is gone and borrowed labels are restored',
      state: 'passed',
      durationMs: 300,
      meta: { behaviour: 'B6' },
    },
  ];
}

/** A failed case as the executor hands over a ConformanceFailure: with its fields. */
export function structuredFailureCase(): CaseResult {
  const failure: FailureFields = {
    behaviour: 'B3.1',
    expected: 'TLS from egc-1/curl to passthrough.test to end at the external host',
    reason:
      'TLS did not end at the external host: the client was shown a certificate with subject "CN = istio-egressgateway"',
    observed: 'request https://passthrough.test/: HTTP 200 from 10.96.0.21:443',
    hint: "PASSTHROUGH must be set on the Gateway's 443 server; check <gateway-pod>",
    observations: 12,
    elapsedMs: 8050,
    budgetMs: 8000,
    required: 3,
    flips: 0,
    diagnostics: 'diagnostics/passthrough/b3.1',
  };
  return {
    suite: 'passthrough',
    group: 'passthrough [mtls disabled, istio-api] › with Gateway',
    name: 'B3.1 TLS ends at the external host',
    state: 'failed',
    durationMs: 8100,
    message: renderFailure({ ...failure, diagnostics: undefined }),
    errorName: 'ConformanceFailure',
    failure,
    meta: {
      behaviour: 'B3',
      variant: 'mtls disabled, istio-api',
      mtls: 'disabled',
      api: 'istio-api',
      diagnostics: [
        'diagnostics/passthrough/b3.1/index.txt',
        'diagnostics/passthrough/b3.1/gateway.log',
      ],
    },
  };
}

/** A finished simulated run with the sample cases. */
export function sampleReport(kubeconfigPath: string): RunReport {
  const report = createRunReport({
    runId: 'abc123',
    argv: ['--cluster', 'simulated', '--token', TOKEN, '--suite', 'http-gateway,passthrough'],
    requested: {
      clusterKind: 'simulated',
      suites: ['http-gateway', 'passthrough', 'network-policy'],
      mtlsModes: ['disabled', 'enabled'],
      istioVersion: '1.31.1',
      keepOnFailure: true,
    },
    startedAt: new Date('2026-11-20T02:00:00Z'),
  });
  report.target = simulatedTarget(kubeconfigPath);
  report.requiredObservations = 3;
  report.cases = sampleCases();
  report.finishedAt = new Date('2026-11-20T02:03:05Z');
  return report;
}

/** A kubeconfig like the simulated cluster's, with {@link TOKEN}. */
export const SAMPLE_KUBECONFIG = `apiVersion: v1\nkind: Config\nusers:\n- name: sim\n  user:\n    token: ${TOKEN}\n`;
