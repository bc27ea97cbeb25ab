/**
 * The proof that the suites can fail: CLI runs against the simulated cluster, once
 * healthy and under each named fault, asserting that exactly the suites certifying the
 * broken behaviour fail, with messages that name it and show the evidence, and that the
 * other suites stay green.
 *
 * Every run starts a cluster and a vitest fork per suite, and every failing check waits
 * out its whole budget, on CI's two cores. So runs that must fail get short budgets
 * (FAILING_RUN_TIMEOUTS); a fault that bends one mechanism runs only the suites it must
 * fail, and that it leaves the others green is shown by one run per suite under all such
 * faults at once (greenRun); and the detailed cases read the matrix's runs.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { FaultName } from '../../simulator/types.ts';
import { caseTitle, isCase, type BehaviourId } from '../../harness/suite-definition.ts';
import { findSuite, SUITES, type CaseIdOf, type SuiteName } from '../../suites/index.ts';
import { FAILING_RUN_TIMEOUTS, PATIENT_POLLING, runSimulated, type JUnitCase } from './cli.ts';

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

type Run = Awaited<ReturnType<typeof runSimulated>>;

const SUITE_NAMES: readonly SuiteName[] = SUITES.map((suite) => suite.name);

const expectations: Record<FaultName, SuiteName[]> = {
  'gateway-bypass': ['http-gateway', 'network-policy', 'passthrough', 'registry-only'],
  'no-gateway-log': ['http-gateway', 'passthrough', 'registry-only'],
  // registry-only's last stage is B1's routing through the gateway.
  'wrong-upstream': ['http-gateway', 'registry-only'],
  'tls-terminated': ['passthrough'],
  'sni-ignored': ['passthrough'],
  'plaintext-accepted': ['http-gateway'],
  'netpol-not-enforced': ['network-policy'],
  'counters-frozen': ['network-policy'],
  'dr-lookup-ignored': ['dr-lookup'],
  'slow-propagation': [],
  // Upgrade faults act only when versions change (tests/e2e/upgrade.e2e.test.ts).
  'upgrade-drops-traffic': [],
  'skew-breaks-old-proxies': [],
  // Gateway API faults break the gateway-api variant of every suite that has a form in it.
  'gateway-not-programmed': ['http-gateway', 'network-policy', 'passthrough'],
  'hostname-backend-ignored': ['http-gateway', 'network-policy', 'passthrough'],
  'registry-only-ignored': ['registry-only'],
  'wrong-gateway-identity': ['http-gateway'],
};

/**
 * Faults that would hide what other faults do at the gateway: with gateway-bypass nothing
 * reaches it, with no-gateway-log its log is empty. They cannot share the green runs.
 */
const MASKING: ReadonlySet<FaultName> = new Set(['gateway-bypass', 'no-gateway-log']);

const FAULTS = Object.keys(expectations) as FaultName[];

/**
 * Whether `fault` runs every suite on its own: a masking fault, or one that must break
 * nothing (slow-propagation, which would also make every green run as slow as its own).
 * Every other fault bends one mechanism of its own (simulator/mesh/faults.ts) and shares
 * the green runs.
 */
function runsAlone(fault: FaultName): boolean {
  return MASKING.has(fault) || expectations[fault].length === 0;
}

/** The faults proven not to break `suite` by its shared green run. */
function sharedGreenFaults(suite: SuiteName): FaultName[] {
  return FAULTS.filter((fault) => !runsAlone(fault) && !expectations[fault].includes(suite));
}

const runs = new Map<string, Promise<Run>>();

/** Each distinct run once per file, whichever test asks for it first. */
function once(key: string, start: () => Promise<Run>): Promise<Run> {
  let run = runs.get(key);
  if (!run) {
    run = start();
    // Tests that start a run ahead of awaiting it must not turn its failure into an unhandled one.
    run.catch(() => undefined);
    runs.set(key, run);
  }
  return run;
}

const healthyRun = (): Promise<Run> => once('healthy', () => runSimulated([]));

/** The run proving what `fault` breaks: every suite, or only the ones it must fail. */
function faultRun(fault: FaultName): Promise<Run> {
  const expected = expectations[fault];
  const suites = runsAlone(fault) ? [] : ['--suite', expected.join(',')];
  // A fault that must break nothing keeps the budgets the simulated provider sizes for it.
  const budgets = expected.length > 0 ? FAILING_RUN_TIMEOUTS : PATIENT_POLLING;
  // --keep-cluster keeps the run directory, so the gateway-bypass case can read the kubeconfig's token.
  const keep = fault === 'gateway-bypass' ? ['--keep-cluster'] : [];
  return once(`fault ${fault}`, () =>
    runSimulated([...suites, ...budgets, ...keep], { EGRESS_SIM_FAULTS: fault }),
  );
}

/** One suite under every fault that shares runs and must leave it green. */
function greenRun(suite: SuiteName): Promise<Run> {
  return once(`green ${suite}`, () =>
    runSimulated(['--suite', suite], { EGRESS_SIM_FAULTS: sharedGreenFaults(suite).join(',') }),
  );
}

function failedSuites(cases: readonly JUnitCase[]): string[] {
  return [...new Set(cases.filter((c) => c.failure !== undefined).map((c) => c.suite))].sort();
}

describe('simulated conformance run', () => {
  it.concurrent(
    'passes every suite on a healthy mesh and writes a JUnit file marked SIMULATED',
    { timeout: 900_000 },
    async () => {
      const run = await healthyRun();
      expect(run.stderr).toBe('');
      expect(run.exitCode, run.stdout).toBe(0);
      expect(run.xml).toContain('SIMULATED');
      expect(failedSuites(run.cases)).toEqual([]);
      const suites = new Set(run.cases.map((c) => c.suite));
      expect([...suites].sort()).toEqual([...SUITE_NAMES].sort());
      for (const testCase of run.cases) {
        expect(testCase.properties['cluster.kind']).toBe('simulated');
        expect(testCase.properties['istio.version']).toMatch(/^\d+\.\d+\.\d+/);
        expect(testCase.properties['mtls.mode']).toBeDefined();
      }
      // One case per piece of B1 evidence, in both mTLS variants, once per API (--api both).
      const http = run.cases.filter((c) => c.suite === 'http-gateway').map((c) => c.name);
      for (const id of ['control', '1', '2', '3'] as const) {
        expect(http.filter((name) => name === caseName('http-gateway', 'B1', id))).toHaveLength(2);
      }
      expect(http.filter((name) => name === caseName('http-gateway', 'B2', '4'))).toHaveLength(2);
      expect(http.filter((name) => name === caseName('http-gateway', 'B2', '5'))).toHaveLength(2);
      const registry = run.cases.filter((c) => c.suite === 'registry-only').map((c) => c.name);
      for (const id of ['control', '1', '2', '3', '4'] as const) {
        expect(registry).toContain(caseName('registry-only', 'B7', id));
      }
    },
  );

  // The faults that run every suite first: theirs are the longest runs.
  const matrix = (Object.entries(expectations) as [FaultName, SuiteName[]][]).sort(
    ([a], [b]) => Number(runsAlone(b)) - Number(runsAlone(a)),
  );

  it.concurrent.each(matrix)(
    'with fault %s, exactly the suites %j fail, naming the behaviour and the evidence',
    { timeout: 900_000 },
    async (fault, expected) => {
      // The suites its own run leaves out pass under it, with the others sharing their run.
      const leftOut = runsAlone(fault) ? [] : SUITE_NAMES.filter((s) => !expected.includes(s));
      for (const suite of leftOut) expect(sharedGreenFaults(suite), suite).toContain(fault);
      const greens = leftOut.map((suite) => greenRun(suite));
      const run = await faultRun(fault);
      expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(expected.length > 0 ? 1 : 0);
      expect(failedSuites(run.cases)).toEqual(expected);
      expect(new Set(run.cases.map((c) => c.suite))).toEqual(
        new Set(runsAlone(fault) ? SUITE_NAMES : expected),
      );
      for (const failed of run.cases.filter((c) => c.failure !== undefined)) {
        expect(failed.failure).toMatch(/^\[B\d/);
        expect(failed.failure).toMatch(/Last observation:/);
        expect(failed.failure).toMatch(/Hint:/);
      }
      for (const [index, green] of (await Promise.all(greens)).entries()) {
        expect(green.exitCode, `${green.stdout}\n${green.stderr}`).toBe(0);
        expect(failedSuites(green.cases)).toEqual([]);
        expect(new Set(green.cases.map((c) => c.suite))).toEqual(new Set([leftOut[index]]));
      }
    },
  );

  it.concurrent(
    'gateway-bypass: the failure says the request did not pass through the gateway, shows its log, and leaves diagnostics and reports without secrets',
    { timeout: 900_000 },
    async () => {
      const run = await faultRun('gateway-bypass');
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
    },
  );

  it.concurrent(
    'wrong-gateway-identity and registry-only-ignored turn exactly their cases red, naming the cause',
    { timeout: 900_000 },
    async () => {
      const identity = await faultRun('wrong-gateway-identity');
      const identityFailed = identity.cases.filter((c) => c.failure !== undefined);
      // B2.5 once per API: the installed egress gateway and the one Istio deploys for the Gateway.
      const b25 = caseName('http-gateway', 'B2', '5');
      expect(identityFailed.map((c) => c.name)).toEqual([b25, b25]);
      expect(identityFailed.map((c) => c.properties.api).sort()).toEqual([
        'gateway-api',
        'istio-api',
      ]);
      const byApi = (api: string) => identityFailed.find((c) => c.properties.api === api)?.failure;
      expect(byApi('istio-api')).toContain(
        'service account default instead of istio-egressgateway-service-account',
      );
      expect(byApi('gateway-api')).toContain(
        'service account default instead of http-gateway-istio',
      );

      const ignored = await faultRun('registry-only-ignored');
      const ignoredFailed = ignored.cases.filter((c) => c.failure !== undefined);
      expect(ignoredFailed.map((c) => c.name).sort()).toEqual(
        [caseName('registry-only', 'B7', '1'), caseName('registry-only', 'B7', '2')].sort(),
      );
      for (const failed of ignoredFailed) {
        expect(failed.failure).toMatch(
          /sets outboundTrafficPolicy REGISTRY_ONLY: the Sidecar's outbound policy is not in force/,
        );
      }
    },
  );

  it.concurrent(
    'no-gateway-log: the failure says the evidence is missing, not a bare timeout',
    { timeout: 900_000 },
    async () => {
      const run = await faultRun('no-gateway-log');
      expect(run.exitCode).toBe(1);
      const failure =
        run.cases.find((c) => c.name === caseName('http-gateway', 'B1', '2'))?.failure ?? '';
      expect(failure).toContain('evidence missing');
      expect(failure).toContain('no access-log entries at all');
    },
  );
});

async function filesBelow(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}
