import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  buildConformanceReport,
  createRunReport,
  recordSetupFailure,
  trackSteps,
  writeConformanceReports,
} from './conformance-report.ts';
import { SAMPLE_KUBECONFIG, TOKEN, sampleReport, structuredFailureCase } from './testing.ts';

describe('conformance report', () => {
  let dir: string;
  let kubeconfigPath: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'conformance-report-'));
    kubeconfigPath = path.join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, SAMPLE_KUBECONFIG);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('states per behaviour the result, observations and flakiness, derived from the cases', () => {
    const doc = buildConformanceReport(sampleReport(kubeconfigPath));
    const byId = Object.fromEntries(doc.behaviours.map((entry) => [entry.id, entry]));
    expect(doc.kind).toBe('EgressConformanceReport');
    expect(doc.result).toBe('failed');
    expect(byId.B1).toMatchObject({ result: 'passed', observations: 3, flaky: false });
    expect(byId.B2).toMatchObject({ result: 'passed', observations: 7, flaky: true });
    expect(byId.B3?.result).toBe('failed');
    expect(byId.B3?.failures).toEqual([
      'B3.1 TLS ends at the external host [mtls disabled, istio-api]: Expected TLS to end at the external host in 3 consecutive observations within 30000 ms, but the client saw CN = istio-egressgateway.',
    ]);
    expect(byId.B4).toMatchObject({
      result: 'skipped',
      reason: 'cluster.outbound stats are not kept by the proxies (proxyStatsMatcher)',
      observations: null,
    });
    expect(byId.B5).toMatchObject({ result: 'skipped' });
    expect(byId.B5?.reason).toMatch(/not selected: its suite \(dr-lookup\)/);
    expect(byId.B6?.result).toBe('passed');
    expect(byId.B7?.reason).toMatch(/not selected: its suite \(registry-only\)/);
    expect(doc.summary).toEqual({
      passed: 3,
      failed: 1,
      skipped: 3,
      error: 0,
      notRun: 0,
      flaky: 1,
    });
  });

  it('describes the implementation and says plainly when it is simulated', () => {
    const doc = buildConformanceReport(sampleReport(kubeconfigPath));
    expect(doc.simulated).toBe(true);
    expect(doc.note).toMatch(/SIMULATED.*certif(y|ies) nothing about a real mesh/);
    expect(doc.implementation).toMatchObject({
      clusterKind: 'simulated',
      istio: {
        version: '1.31.1',
        revision: 'default',
        gateway: 'istio-system/istio-egressgateway',
        outboundTrafficPolicy: 'ALLOW_ANY',
      },
      kubernetesVersion: 'v1.36.1',
      kindVersion: null,
      cni: 'simulated',
    });
    expect(doc.mode).toEqual({
      mtls: ['disabled', 'enabled'],
      external: {
        mode: 'local',
        hosts: [{ suite: 'http-gateway', name: 'http-gateway.egress-conformance.test' }],
      },
      requiredObservations: 3,
    });
    expect(doc.run).toMatchObject({
      id: 'abc123',
      startTime: '2026-11-20T02:00:00.000Z',
      durationSeconds: 185,
    });
    expect(doc.run.commandLine).toBe(
      "npm run conformance -- --cluster simulated --token '[REDACTED]' --suite http-gateway,passthrough",
    );
    expect(doc.kept).toEqual({
      cluster: false,
      kubeconfig: kubeconfigPath,
      namespaces: ['egc-abc123-passthrough-disabled'],
    });
  });

  it("records a conformance failure's fields on its case, read from the fields, not the message", () => {
    const report = sampleReport(kubeconfigPath);
    const entry = { ...structuredFailureCase(), message: 'a message nobody parses' };
    report.cases = [entry];
    const b3 = buildConformanceReport(report).behaviours.find((behaviour) => behaviour.id === 'B3');
    const { diagnostics: _folder, ...fields } = entry.failure ?? {};
    expect(b3?.cases[0]?.failure).toEqual(fields);
    expect(b3?.cases[0]?.message).toBe(
      '[B3.1] Expected TLS from egc-1/curl to passthrough.test to end at the external host in 3 consecutive observations within 8000 ms, but after 12 observations (8050 ms) it did not hold: TLS did not end at the external host: the client was shown a certificate with subject "CN = istio-egressgateway".',
    );
    expect(b3?.failures[0]).toMatch(
      /^B3\.1 TLS ends at the external host \[mtls disabled, istio-api\]: \[B3\.1\] Expected /,
    );
  });

  it('marks an environment failure as an error of the environment, not of the mesh', () => {
    const report = sampleReport(kubeconfigPath);
    report.cases = [
      {
        suite: 'network-policy',
        group: 'network-policy',
        name: 'B4.1 a client without sidecar reaches the host directly (baseline)',
        state: 'failed',
        durationMs: 10,
        message: 'The cluster has no egress at all',
        errorName: 'EnvironmentError',
        meta: {},
      },
    ];
    const doc = buildConformanceReport(report);
    expect(doc.behaviours.find((entry) => entry.id === 'B4')?.result).toBe('error');
    expect(doc.result).toBe('error');
  });

  it('attributes a failed suite file to all its behaviours, and run errors to none', () => {
    const report = sampleReport(kubeconfigPath);
    report.cases = [
      {
        suite: 'dr-lookup',
        group: 'dr-lookup',
        name: 'suite setup',
        state: 'failed',
        durationMs: 0,
        message: 'boom',
        meta: {},
      },
      {
        suite: 'run',
        group: 'run',
        name: 'unhandled error',
        state: 'failed',
        durationMs: 0,
        message: 'socket hang up',
        meta: {},
      },
    ];
    const doc = buildConformanceReport(report);
    expect(doc.behaviours.find((entry) => entry.id === 'B5')?.result).toBe('failed');
    expect(doc.behaviours.find((entry) => entry.id === 'B6')?.result).toBe('failed');
    expect(doc.runErrors).toEqual(['run › unhandled error: socket hang up']);
  });

  it('writes YAML and JSON with the same content, without the kubeconfig token', async () => {
    const [yamlFile, jsonFile] = await writeConformanceReports(dir, sampleReport(kubeconfigPath));
    const yamlText = await readFile(yamlFile ?? '', 'utf8');
    const jsonText = await readFile(jsonFile ?? '', 'utf8');
    expect(yamlText.startsWith('# SIMULATED')).toBe(true);
    expect(parse(yamlText)).toEqual(JSON.parse(jsonText));
    expect(yamlText + jsonText).not.toContain(TOKEN);
  });

  it('is written after a failed setup, naming the step that was running; nothing ran', async () => {
    const report = createRunReport({
      runId: 'def456',
      argv: ['--cluster', 'kind'],
      requested: {
        clusterKind: 'kind',
        suites: ['http-gateway'],
        mtlsModes: ['disabled'],
        external: { mode: 'local' },
        istioVersion: '1.31.1',
        keepOnFailure: false,
      },
    });
    const printed: string[] = [];
    const progress = trackSteps(report, (step, state) => printed.push(`${step}:${state}`));
    progress('preflight', 'start');
    progress('preflight', 'done');
    progress('cluster', 'start', 'kind');
    progress('istio install', 'start');
    recordSetupFailure(report, new Error('istioctl install timed out after 600000 ms'));
    expect(printed).toEqual([
      'preflight:start',
      'preflight:done',
      'cluster:start',
      'istio install:start',
    ]);

    const [yamlFile] = await writeConformanceReports(dir, report);
    const doc = parse(await readFile(yamlFile ?? '', 'utf8')) as ReturnType<
      typeof buildConformanceReport
    >;
    expect(doc.result).toBe('setup failed');
    expect(doc.setupFailure).toEqual({
      step: 'istio install',
      message: 'istioctl install timed out after 600000 ms',
    });
    expect(doc.behaviours.map((entry) => entry.result)).toEqual(Array(7).fill('not run'));
    expect(doc.behaviours[0]?.reason).toBe(
      'setup failed at step "istio install" before any suite ran',
    );
    expect(doc.implementation.istio).toEqual({
      version: null,
      requestedVersion: '1.31.1',
      revision: null,
      gateway: null,
      outboundTrafficPolicy: null,
    });
    expect(doc.simulated).toBe(false);
    expect(doc.run.steps.map((step) => [step.name, step.result])).toEqual([
      ['preflight', 'done'],
      ['cluster', 'running'],
      ['istio install', 'failed'],
    ]);
  });

  it('names the step given explicitly, or `setup` when none was running', () => {
    const report = createRunReport({
      runId: 'x',
      argv: [],
      requested: {
        clusterKind: 'existing',
        suites: [],
        mtlsModes: ['disabled'],
        istioVersion: '1.31.1',
        keepOnFailure: false,
      },
    });
    recordSetupFailure(report, 'no kubeconfig');
    expect(report.setupFailure).toEqual({ step: 'setup', message: 'no kubeconfig' });
    recordSetupFailure(report, new Error('bad flag'), 'arguments');
    expect(report.setupFailure?.step).toBe('arguments');
  });
});
