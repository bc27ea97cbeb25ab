/**
 * The proof that the suites can fail: full CLI runs against the simulated cluster, once
 * healthy and once per named fault, asserting that exactly the suites certifying the
 * broken behaviour fail, with messages that name it and show the evidence.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { FaultName } from '../../simulator/types.ts';
import { caseTitle, isCase, type BehaviourId } from '../../harness/suite-definition.ts';
import { findSuite, SUITES, type CaseIdOf, type SuiteName } from '../../suites/index.ts';

/**
 * A case's JUnit name, from the registry: typed by suite and case id, so renaming a case
 * (or a suite) breaks this file's compilation instead of silently matching nothing.
 */
function caseName<N extends SuiteName>(suite: N, behaviour: BehaviourId, id: CaseIdOf<N>): string {
  const step = findSuite(suite)
    ?.steps.filter(isCase)
    .find((candidate) => candidate.id === id);
  if (!step) throw new Error(`no case ${id} in suite ${suite}`);
  return caseTitle(behaviour, step);
}
import { runSimulated, type JUnitCase } from './cli.ts';

function failedSuites(cases: readonly JUnitCase[]): string[] {
  return [...new Set(cases.filter((c) => c.failure !== undefined).map((c) => c.suite))].sort();
}

describe('simulated conformance run', () => {
  it('passes every suite on a healthy mesh and writes a JUnit file marked SIMULATED', async () => {
    const run = await runSimulated([]);
    expect(run.stderr).toBe('');
    expect(run.exitCode, run.stdout).toBe(0);
    expect(run.xml).toContain('SIMULATED');
    expect(failedSuites(run.cases)).toEqual([]);
    const suites = new Set(run.cases.map((c) => c.suite));
    expect([...suites].sort()).toEqual(SUITES.map((suite) => suite.name).sort());
    for (const testCase of run.cases) {
      expect(testCase.properties['cluster.kind']).toBe('simulated');
      expect(testCase.properties['istio.version']).toMatch(/^\d+\.\d+\.\d+/);
      expect(testCase.properties['mtls.mode']).toBeDefined();
    }
    // One case per piece of B1 evidence, in both mTLS variants.
    const http = run.cases.filter((c) => c.suite === 'http-gateway').map((c) => c.name);
    for (const id of ['control', '1', '2', '3'] as const) {
      expect(http.filter((name) => name === caseName('http-gateway', 'B1', id))).toHaveLength(1);
    }
    expect(http.filter((name) => name === caseName('http-gateway', 'B2', '4'))).toHaveLength(1);
  });

  const expectations: Record<FaultName, SuiteName[]> = {
    'gateway-bypass': ['http-gateway', 'network-policy', 'passthrough'],
    'no-gateway-log': ['http-gateway', 'passthrough'],
    'wrong-upstream': ['http-gateway'],
    'tls-terminated': ['passthrough'],
    'sni-ignored': ['passthrough'],
    'plaintext-accepted': ['http-gateway'],
    'netpol-not-enforced': ['network-policy'],
    'counters-frozen': ['network-policy'],
    'dr-lookup-ignored': ['dr-lookup'],
    'slow-propagation': [],
  };

  it.concurrent.each(Object.entries(expectations))(
    'with fault %s, exactly the suites %j fail, naming the behaviour and the evidence',
    { timeout: 300_000 },
    async (fault, expected) => {
      const run = await runSimulated([], { EGRESS_SIM_FAULTS: fault });
      expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(expected.length > 0 ? 1 : 0);
      expect(failedSuites(run.cases)).toEqual(expected);
      for (const failed of run.cases.filter((c) => c.failure !== undefined)) {
        expect(failed.failure).toMatch(/^\[B\d/);
        expect(failed.failure).toMatch(/Last observation:/);
        expect(failed.failure).toMatch(/Hint:/);
      }
    },
  );

  it('gateway-bypass: the failure says the request did not pass through the gateway, shows its log, and leaves diagnostics and reports without secrets', async () => {
    // --keep-cluster keeps the run directory, so the test can read the kubeconfig's token.
    const run = await runSimulated(
      ['--suite', 'http-gateway', '--mtls', 'disabled', '--keep-cluster'],
      {
        EGRESS_SIM_FAULTS: 'gateway-bypass',
      },
    );
    expect(run.exitCode).toBe(1);
    const failed = run.cases.find((c) => c.name === caseName('http-gateway', 'B1', '2'));
    const failure = failed?.failure ?? '';
    expect(failure).toContain('did not pass through the egress gateway');
    expect(failure).toMatch(/gateway log \(.+\) since /);

    // Diagnostics: referenced from the JUnit case, present on disk.
    const attachments = [
      ...(failed?.systemOut ?? '').matchAll(/\[\[ATTACHMENT\|([^\]]+)\]\]/g),
    ].map((m) => m[1] ?? '');
    expect(attachments.length).toBeGreaterThan(3);
    for (const file of attachments)
      expect(existsSync(path.join(run.reports, file)), file).toBe(true);
    expect(attachments.some((file) => /gateway/.test(file) && /log/.test(file))).toBe(true);
    expect(attachments.some((file) => /config_dump/.test(file))).toBe(true);

    // The conformance report records the failure.
    const report = parse(
      await readFile(path.join(run.reports, 'conformance.yaml'), 'utf8'),
    ) as unknown;
    expect(JSON.stringify(report)).toMatch(/"B1"/);
    expect(JSON.stringify(report)).toMatch(/failed/);
    expect(await readFile(path.join(run.reports, 'summary.md'), 'utf8')).toMatch(/FAILED/);

    // No token or private key from the kubeconfig anywhere under reports/.
    const runDirs = await readdir(path.join(run.reports, '.runs'));
    const kubeconfig = parse(
      await readFile(path.join(run.reports, '.runs', runDirs[0] ?? '', 'kubeconfig'), 'utf8'),
    ) as {
      users: { user: { token?: string } }[];
    };
    const token = kubeconfig.users[0]?.user.token ?? '';
    expect(token.length).toBeGreaterThan(8);
    for (const file of await filesBelow(run.reports)) {
      if (file.includes(`${path.sep}.runs${path.sep}`)) continue;
      const text = await readFile(file, 'utf8');
      expect(text.includes(token), file).toBe(false);
      expect(/PRIVATE KEY-----/.test(text), file).toBe(false);
    }
  });

  it('no-gateway-log: the failure says the evidence is missing, not a bare timeout', async () => {
    const run = await runSimulated(['--suite', 'http-gateway', '--mtls', 'disabled'], {
      EGRESS_SIM_FAULTS: 'no-gateway-log',
    });
    expect(run.exitCode).toBe(1);
    const failure =
      run.cases.find((c) => c.name === caseName('http-gateway', 'B1', '2'))?.failure ?? '';
    expect(failure).toContain('evidence missing');
    expect(failure).toContain('no access-log entries at all');
  });
});

async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}
