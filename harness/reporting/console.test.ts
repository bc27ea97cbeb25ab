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
    reporter(lines).onRunEnd(sampleCases().filter((entry) => entry.state !== 'failed'));
    expect(lines).toEqual([]);
    reporter(lines).onRunEnd([
      {
        suite: 'run',
        group: 'run',
        name: 'unhandled error',
        state: 'failed',
        durationMs: 0,
        message: 'Error: socket hang up',
        meta: {},
      },
    ]);
    expect(lines).toEqual([
      '',
      'Failures (1):',
      '',
      '× run › unhandled error',
      '    Error:            Error: socket hang up',
      '',
    ]);
  });

  it('prints a line per finished case, a failed block once, and stacks only when verbose', () => {
    const lines: string[] = [];
    const cases = sampleCases();
    const passed = cases.find((entry) => entry.state === 'passed');
    const failed = cases.find((entry) => entry.state === 'failed');
    const skipped = cases.find((entry) => entry.state === 'skipped');
    const terminal = reporter(lines);
    for (const entry of [passed!, skipped!]) terminal.onCase(entry);
    terminal.onBlockFailed({
      ...failed!,
      name: 'setup or cleanup of "with Gateway"',
      group: 'passthrough [mtls disabled, istio-api] › with Gateway',
    });
    expect(lines[0]).toMatch(/^✓ http-gateway \[mtls disabled, istio-api\] › B1\.1-2 .* 1200 ms$/);
    expect(lines[1]).toMatch(/^↓ .* \(skipped: .+\)$/);
    expect(lines[2]).toBe(
      '× passthrough [mtls disabled, istio-api] › with Gateway: setup or cleanup failed',
    );
    const withStack = {
      ...structuredFailureCase(),
      stack: 'Error: x\n    at check (harness/checks.ts:1:1)',
    };
    expect(reporter().failureLines(withStack).join('\n')).not.toContain('harness/checks.ts');
    const verbose = new ConsoleReporter({
      write: () => undefined,
      reportsDir: '/r',
      verbose: true,
    });
    expect(verbose.failureLines(withStack).join('\n')).toContain(
      'at check (harness/checks.ts:1:1)',
    );
  });
});
