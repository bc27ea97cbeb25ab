import { describe, expect, it } from 'vitest';
import { resolveTimeouts } from '../timeouts.ts';
import type { RunContext } from '../run-context.ts';
import { diagnosticsFolder, failureText, renderJUnit } from './junit.ts';
import { sampleCases, simulatedTarget, structuredFailureCase } from './testing.ts';

const RUN: RunContext = {
  runId: 'abc123',
  target: simulatedTarget('/nonexistent/kubeconfig'),
  mtlsModes: ['disabled'],
  apis: ['istio-api'],
  timeouts: resolveTimeouts(),
  requiredObservations: 3,
  clientImage: 'curlimages/curl',
  keepOnFailure: false,
  reportsDir: '/reports',
  manifestsDir: '/manifests',
};

function testcase(xml: string, name: string): string {
  const start = xml.indexOf(`name="${name}"`);
  return xml.slice(start, xml.indexOf('</testcase>', start));
}

describe('JUnit report', () => {
  it("puts a conformance failure's fields in properties and renders the failure from them", () => {
    const entry = structuredFailureCase();
    const xml = renderJUnit(RUN, [entry], new Date('2026-11-20T02:00:00Z'));
    const body = testcase(xml, entry.name);
    for (const [name, value] of [
      ['failure.behaviour', 'B3.1'],
      ['expected', 'TLS from egc-1/curl to passthrough.test to end at the external host'],
      ['observations', '12'],
      ['elapsed.ms', '8050'],
      ['budget.ms', '8000'],
      ['required', '3'],
      ['diagnostics', 'diagnostics/passthrough/b3.1'],
    ]) {
      expect(body).toContain(`<property name="${name}" value="${value}"/>`);
    }
    expect(body).toContain(
      '<failure message="[B3.1] Expected TLS from egc-1/curl to passthrough.test to end at the external host in 3 consecutive observations within 8000 ms, but after 12 observations (8050 ms) it did not hold: TLS did not end at the external host: the client was shown a certificate with subject &quot;CN = istio-egressgateway&quot;." type="ConformanceFailure">',
    );
    expect(body).toContain('\nLast observation: request https://passthrough.test/: HTTP 200');
    expect(body).toContain(
      "\nHint: PASSTHROUGH must be set on the Gateway's 443 server; check &lt;gateway-pod&gt;",
    );
    expect(body).toContain('\nDiagnostics: diagnostics/passthrough/b3.1</failure>');
  });

  it('falls back to the message for other errors, with their own type', () => {
    const legacy = sampleCases().find((entry) => entry.state === 'failed');
    if (!legacy) throw new Error('the sample has a failed case');
    const environment = {
      ...legacy,
      name: 'B4.1 baseline',
      errorName: 'EnvironmentError',
      message: 'No egress',
    };
    const xml = renderJUnit(RUN, [legacy, environment], new Date());
    expect(testcase(xml, legacy.name)).toContain(
      '<failure message="Expected TLS to end at the external host in 3 consecutive observations within 30000 ms, but the client saw CN = istio-egressgateway." type="ConformanceFailure">',
    );
    expect(testcase(xml, legacy.name)).not.toContain('name="expected"');
    expect(testcase(xml, 'B4.1 baseline')).toContain(
      '<failure message="No egress" type="EnvironmentError">No egress</failure>',
    );
  });

  it('finds the diagnostics folder from the recorded files, and nothing from a collection error', () => {
    expect(diagnosticsFolder(['diagnostics/a/b/index.txt', 'diagnostics/a/b/x.log'])).toBe(
      'diagnostics/a/b',
    );
    expect(diagnosticsFolder(['diagnostics could not be collected: boom'])).toBeUndefined();
    expect(diagnosticsFolder(undefined)).toBeUndefined();
    expect(failureText({ ...structuredFailureCase(), message: 'stale' })).toMatch(/^\[B3\.1\] /);
  });
});
