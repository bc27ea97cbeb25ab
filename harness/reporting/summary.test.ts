import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRunReport, recordSetupFailure } from './conformance-report.ts';
import { keptResourcesLines, renderSummary, writeSummary } from './summary.ts';
import { SAMPLE_KUBECONFIG, TOKEN, sampleReport, structuredFailureCase } from './testing.ts';

describe('summary', () => {
  let dir: string;
  let kubeconfigPath: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'summary-'));
    kubeconfigPath = path.join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, SAMPLE_KUBECONFIG);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('says SIMULATED in its header and tabulates every behaviour', () => {
    const text = renderSummary(sampleReport(kubeconfigPath));
    const lines = text.split('\n');
    expect(lines[0]).toBe('# Egress conformance: FAILED (SIMULATED cluster)');
    expect(text).toContain('certify nothing about a real mesh');
    expect(text).toContain('| Behaviour | Result | Observations | Flaky |');
    expect(lines.find((line) => line.startsWith('| B1 '))).toMatch(/\| passed \| 3 \| no \|$/);
    expect(lines.find((line) => line.startsWith('| B2 '))).toMatch(
      /\| passed \| 7 \| \*\*yes\*\* \|$/,
    );
    expect(lines.find((line) => line.startsWith('| B3 '))).toMatch(
      /\| \*\*failed\*\* \| 3 \| no \|$/,
    );
    expect(lines.find((line) => line.startsWith('| B4 '))).toMatch(
      /\| skipped: cluster\.outbound stats are not kept.* \| – \| no \|$/,
    );
  });

  it('names the APIs it ran, and an API the cluster could not run with the reason', () => {
    const report = sampleReport(kubeconfigPath);
    expect(renderSummary(report)).toContain('; mTLS disabled and enabled; API istio-api; ');
    const reason =
      'the cluster does not serve HTTPRoute (gateway.networking.k8s.io/v1): install the Gateway API CRDs';
    report.apis = { apis: ['istio-api'], skipped: [{ api: 'gateway-api', reason }] };
    expect(renderSummary(report).split('\n')).toContain(
      `gateway-api skipped (every suite): ${reason}  `,
    );
  });

  it('shows each failure with its whole message fenced and links to its diagnostics', () => {
    const text = renderSummary(sampleReport(kubeconfigPath));
    expect(text).toContain(
      '### B3.1 TLS ends at the external host [mtls disabled, istio-api] — passthrough (B3)',
    );
    expect(text).toContain(
      '```text\nExpected TLS to end at the external host in 3 consecutive observations within 30000 ms, but the client saw CN = istio-egressgateway.\nLast observation: …\nHint: tls.mode must be PASSTHROUGH\n```',
    );
    expect(text).toContain(
      '- [diagnostics/passthrough/gateway/istio-proxy.log](diagnostics/passthrough/gateway/istio-proxy.log)',
    );
  });

  it("shows a conformance failure's fields, escaped for Markdown, with the observation fenced", () => {
    const report = sampleReport(kubeconfigPath);
    report.cases = [structuredFailureCase()];
    const text = renderSummary(report);
    expect(text).toContain(
      [
        '- **Check:** B3.1',
        '- **Expected:** TLS from egc-1/curl to passthrough.test to end at the external host in 3 consecutive observations within 8000 ms',
        '- **Did not hold** after 12 observations (8050 ms): TLS did not end at the external host: the client was shown a certificate with subject "CN = istio-egressgateway"',
        "- **Hint:** PASSTHROUGH must be set on the Gateway's 443 server; check &lt;gateway-pod&gt;",
        '',
        'Last observation:',
        '',
        '```text',
        'request https://passthrough.test/: HTTP 200 from 10.96.0.21:443',
        '```',
      ].join('\n'),
    );
    expect(text).toContain(
      '- [diagnostics/passthrough/b3.1/index.txt](diagnostics/passthrough/b3.1/index.txt)',
    );
  });

  it('keeps a message that contains a fence inside its block', () => {
    const report = sampleReport(kubeconfigPath);
    const failed = report.cases?.find((entry) => entry.state === 'failed');
    if (failed) failed.message = 'saw:\n```\nHTTP/1.1 503\n```';
    expect(renderSummary(report)).toContain('````text\nsaw:\n```\nHTTP/1.1 503\n```\n````');
  });

  it('tells how to reach kept namespaces on a real cluster, and that a simulated one is gone', () => {
    const real = sampleReport(kubeconfigPath);
    if (real.target)
      Object.assign(real.target, { kind: 'kind', simulated: false, context: 'kind-egc' });
    real.clusterKept = true;
    const lines = keptResourcesLines(real);
    expect(lines).toContain(
      `kubectl --kubeconfig ${kubeconfigPath} --context kind-egc -n egc-abc123-passthrough-disabled get pods`,
    );
    expect(lines[0]).toMatch(/The kind cluster was kept/);
    expect(renderSummary(real)).toContain('## Kept for debugging');

    expect(keptResourcesLines(sampleReport(kubeconfigPath))[0]).toMatch(
      /simulated cluster stopped with the run/,
    );
  });

  it('names the failed setup step when nothing ran', () => {
    const report = createRunReport({
      runId: 'r1',
      argv: [],
      requested: {
        clusterKind: 'kind',
        suites: ['passthrough'],
        mtlsModes: ['disabled'],
        istioVersion: '1.31.1',
        keepOnFailure: false,
      },
    });
    recordSetupFailure(report, new Error('Docker is not running'), 'preflight');
    const text = renderSummary(report);
    expect(text.split('\n')[0]).toBe('# Egress conformance: SETUP FAILED');
    expect(text).toContain('## Setup failed at step `preflight`');
    expect(text).toContain('```text\nDocker is not running\n```');
    expect(text).toMatch(/\| B3 .* \| not run: setup failed at step "preflight"/);
  });

  it('writes summary.md and appends to $GITHUB_STEP_SUMMARY without links or the token', async () => {
    const stepSummary = path.join(dir, 'step-summary.md');
    await writeFile(stepSummary, 'previous step\n');
    const report = sampleReport(kubeconfigPath);
    const failed = report.cases?.find((entry) => entry.state === 'failed');
    if (failed) failed.message = `401 with Authorization: Bearer ${TOKEN}`;
    const written = await writeSummary(dir, report, { GITHUB_STEP_SUMMARY: stepSummary });
    expect(written).toEqual([path.join(dir, 'summary.md'), stepSummary]);
    const own = await readFile(path.join(dir, 'summary.md'), 'utf8');
    const github = await readFile(stepSummary, 'utf8');
    expect(github.startsWith('previous step\n# Egress conformance')).toBe(true);
    expect(github).toContain(
      '`diagnostics/passthrough/gateway/istio-proxy.log` (in the reports artifact)',
    );
    expect(own + github).not.toContain(TOKEN);
  });

  it('writes only summary.md when not on GitHub', async () => {
    expect(await writeSummary(dir, sampleReport(kubeconfigPath), {})).toEqual([
      path.join(dir, 'summary.md'),
    ]);
  });
});
