import { describe, expect, it } from 'vitest';
import { ConsoleReporter } from './console.ts';
import { sampleCases, structuredFailureCase } from './testing.ts';

function reporter(lines: string[] = []): ConsoleReporter {
  return new ConsoleReporter({ write: (line) => lines.push(line), reportsDir: '/reports' });
}

describe('console reporter', () => {
  it('prints a conformance failure once, field by field, with its diagnostics folder', () => {
    const lines = reporter().failureLines(structuredFailureCase());
    expect(lines).toEqual([
      '× passthrough [mtls disabled, istio-api] › with Gateway › B3.1 TLS ends at the external host',
      '    Behaviour:        B3.1',
      '    Expected:         TLS from egc-1/curl to passthrough.test to end at the external host in 3 consecutive observations within 8000 ms',
      '    Observed:         after 12 observations (8050 ms) it did not hold: TLS did not end at the external host: the client was shown a certificate with subject "CN = istio-egressgateway"',
      '    Last observation: request https://passthrough.test/: HTTP 200 from 10.96.0.21:443',
      "    Hint:             PASSTHROUGH must be set on the Gateway's 443 server; check <gateway-pod>",
      '    Diagnostics:      /reports/diagnostics/passthrough/b3.1/',
    ]);
  });

  it('aligns the lines of a multi-line observation and prints other errors by their message', () => {
    const entry = structuredFailureCase();
    if (entry.failure) entry.failure.observed = 'request x: HTTP 200\n  gateway log (gw-1): none';
    expect(reporter().failureLines(entry)).toContain(`${' '.repeat(22)}gateway log (gw-1): none`);

    const other = {
      ...sampleCases()[0]!,
      state: 'failed' as const,
      errorName: 'Error',
      message: 'Applying VirtualService a/b failed: HTTP 422\nspec.hosts: Required value',
    };
    expect(reporter().failureLines(other).slice(1)).toEqual([
      '    Error:            Applying VirtualService a/b failed: HTTP 422',
      '                      spec.hosts: Required value',
    ]);
  });

  it('ends a run with the failures and the unhandled errors, and prints nothing when all passed', () => {
    const lines: string[] = [];
    reporter(lines).onTestRunEnd([], []);
    expect(lines).toEqual([]);
    reporter(lines).onTestRunEnd([], [{ name: 'Error', message: 'socket hang up' }]);
    expect(lines).toEqual([
      '',
      'Failures (1):',
      '',
      '× unhandled error',
      '    Error:            socket hang up',
      '',
    ]);
  });
});
