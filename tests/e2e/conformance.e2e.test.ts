/**
 * The proof that the suites can fail: CLI runs against the simulated cluster, once
 * healthy (a spawned CLI, as a user runs it) and under each named fault (the CLI's `main` in
 * this process: the same code without a process loading everything again), asserting that exactly the suites certifying the
 * broken behaviour fail, with messages that name it and show the evidence, and that the
 * other suites stay green.
 *
 * Every run starts a cluster and its suites, and every failing check waits
 * out its whole budget, on CI's two cores. So runs that must fail get short budgets
 * (FAILING_RUN_TIMEOUTS); a fault that bends one mechanism runs only the suites it must
 * fail, in one run with other such faults of disjoint suites (PACKS), and that it leaves the
 * others green is shown by one run per suite under all such faults at once (greenRun); and
 * the detailed cases read the matrix's runs.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { FaultName } from '../../simulator/types.ts';
import { caseTitle, isCase, type BehaviourId } from '../../harness/suite-definition.ts';
import { apiVariant } from '../../harness/api/index.ts';
import type { ApiName } from '../../harness/variants.ts';
import { findSuite, SUITES, type CaseIdOf, type SuiteName } from '../../suites/index.ts';
import {
  FAILING_RUN_TIMEOUTS,
  PATIENT_POLLING,
  runInProcess,
  runSimulated,
  type JUnitCase,
} from './cli.ts';

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

/** The configuration APIs of each suite (dr-lookup has no Gateway API form: skipped there). */
const SUITE_APIS = new Map<SuiteName, readonly ApiName[]>(
  SUITES.map((suite) => [
    suite.name,
    suite.variants.api.filter((api) =>
      suite.variants.mtls.some(
        (mtls) => apiVariant(api).noFormFor(suite.name, { mtls, api }) === undefined,
      ),
    ),
  ]),
);

const BOTH: readonly ApiName[] = ['istio-api', 'gateway-api'];
const GATEWAY_API: readonly ApiName[] = ['gateway-api'];

/**
 * Which variants each fault must turn red: per suite, the APIs whose cases fail. A fault of the
 * data plane breaks a behaviour in both APIs' forms (Istio translates Gateway API routes into the
 * same proxy config); a fault of Istio's Gateway API controller or of its Hostname backends
 * breaks only the gateway-api variants.
 */
const expectations: Record<FaultName, Partial<Record<SuiteName, readonly ApiName[]>>> = {
  'gateway-bypass': {
    'http-gateway': BOTH,
    'network-policy': BOTH,
    passthrough: BOTH,
    'registry-only': ['istio-api'],
  },
  'no-gateway-log': { 'http-gateway': BOTH, passthrough: BOTH, 'registry-only': ['istio-api'] },
  // registry-only's last stage is B1's routing through the gateway.
  'wrong-upstream': { 'http-gateway': BOTH, 'registry-only': ['istio-api'] },
  'tls-terminated': { passthrough: BOTH },
  'sni-ignored': { passthrough: BOTH },
  'plaintext-accepted': { 'http-gateway': BOTH },
  'netpol-not-enforced': { 'network-policy': BOTH },
  'counters-frozen': { 'network-policy': BOTH },
  'dr-lookup-ignored': { 'dr-lookup': ['istio-api'] },
  'slow-propagation': {},
  'gateway-not-programmed': {
    'http-gateway': GATEWAY_API,
    'network-policy': GATEWAY_API,
    passthrough: GATEWAY_API,
  },
  'hostname-backend-ignored': {
    'http-gateway': GATEWAY_API,
    'network-policy': GATEWAY_API,
    passthrough: GATEWAY_API,
  },
  'registry-only-ignored': { 'registry-only': ['istio-api'] },
  // B2.5 in both APIs: the installed egress gateway and the one Istio deploys for a Gateway.
  'wrong-gateway-identity': { 'http-gateway': BOTH },
  // Upgrade faults act only when versions change: tests/e2e/upgrade.e2e.test.ts proves them.
  'upgrade-drops-traffic': {},
  'skew-breaks-old-proxies': {},
};

/** The suites `fault` must fail, sorted. */
function expectedSuites(fault: FaultName): SuiteName[] {
  return (Object.keys(expectations[fault]) as SuiteName[]).sort();
}

/** `suite api` of every variant `fault` must fail, sorted. */
function expectedVariants(fault: FaultName): string[] {
  return Object.entries(expectations[fault])
    .flatMap(([suite, apis]) => (apis ?? []).map((api) => `${suite} ${api}`))
    .sort();
}

/** The APIs of `suite` that `fault` leaves green. */
function apisLeftGreen(fault: FaultName, suite: SuiteName): ApiName[] {
  const broken = expectations[fault][suite] ?? [];
  return (SUITE_APIS.get(suite) ?? []).filter((api) => !broken.includes(api));
}

/** `--api` for a set of APIs: one of them, or both. */
function apiFlag(apis: readonly ApiName[]): string {
  return apis.length === 1 ? (apis[0] ?? 'both') : 'both';
}

/**
 * Faults that would hide what other faults do at the gateway: with gateway-bypass nothing
 * reaches it, with no-gateway-log its log is empty. They cannot share the green runs.
 */
const MASKING: ReadonlySet<FaultName> = new Set(['gateway-bypass', 'no-gateway-log']);

/** Faults that act only when Istio's version changes: tests/e2e/upgrade.e2e.test.ts runs them. */
const UPGRADE_ONLY: ReadonlySet<FaultName> = new Set([
  'upgrade-drops-traffic',
  'skew-breaks-old-proxies',
]);

const FAULTS = (Object.keys(expectations) as FaultName[]).filter(
  (fault) => !UPGRADE_ONLY.has(fault),
);

/**
 * Whether `fault` runs every suite on its own: a masking fault, or one that must break
 * nothing (slow-propagation, which would also make every green run as slow as its own).
 * Every other fault bends one mechanism of its own (simulator/mesh/faults.ts) and shares
 * the green runs.
 */
function runsAlone(fault: FaultName): boolean {
  return MASKING.has(fault) || expectedSuites(fault).length === 0;
}

/**
 * The green runs of `suite`: the shared faults grouped by which of its APIs they leave green
 * (a Gateway API fault leaves its istio-api variant green, a data-plane fault neither), one run
 * per group with only those APIs selected.
 */
function greenGroups(suite: SuiteName): { apis: ApiName[]; faults: FaultName[] }[] {
  const groups = new Map<string, { apis: ApiName[]; faults: FaultName[] }>();
  for (const fault of FAULTS) {
    if (runsAlone(fault)) continue;
    const apis = apisLeftGreen(fault, suite);
    if (apis.length === 0) continue;
    const key = apis.join(',');
    const group = groups.get(key) ?? { apis, faults: [] };
    group.faults.push(fault);
    groups.set(key, group);
  }
  return [...groups.values()];
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

/** Every suite at once, as a user's run (the other runs here take one suite at a time). */
const healthyRun = (): Promise<Run> =>
  once('healthy', () => runSimulated(['--api', 'both', '--parallel', String(SUITE_NAMES.length)]));

/** The `--api` a fault's own run needs: the APIs of the variants it must fail. */
function faultApiFlag(fault: FaultName): string {
  return apiFlag([...new Set(Object.values(expectations[fault]).flat())] as ApiName[]);
}

/**
 * Faults proven in one run together: faults that bend one mechanism each (not masking, not
 * breaking nothing), needing the same `--api`, whose suites are disjoint; packed first-fit, the
 * widest first. In such a run a failed suite is its own fault's: every other fault of the pack
 * leaves that suite green, which the green runs prove. Each run is a cluster and
 * its suites: eleven runs became six.
 */
const PACKS: readonly (readonly FaultName[])[] = (() => {
  const packs: { faults: FaultName[]; suites: Set<SuiteName>; api: string }[] = [];
  const shared = FAULTS.filter((fault) => !runsAlone(fault)).sort(
    (a, b) => expectedSuites(b).length - expectedSuites(a).length || a.localeCompare(b),
  );
  for (const fault of shared) {
    const suites = expectedSuites(fault);
    const api = faultApiFlag(fault);
    const pack = packs.find(
      (candidate) => candidate.api === api && suites.every((suite) => !candidate.suites.has(suite)),
    );
    if (pack) {
      pack.faults.push(fault);
      for (const suite of suites) pack.suites.add(suite);
    } else {
      packs.push({ faults: [fault], suites: new Set(suites), api });
    }
  }
  return packs.map((pack) => pack.faults);
})();

/** The faults sharing `fault`'s run (itself alone for a fault that runs alone). */
function packOf(fault: FaultName): readonly FaultName[] {
  return PACKS.find((pack) => pack.includes(fault)) ?? [fault];
}

/** The suites a run of `faults` selects: every suite for a fault that runs alone. */
function packSuites(faults: readonly FaultName[]): SuiteName[] {
  return faults.some(runsAlone)
    ? [...SUITE_NAMES]
    : [...new Set(faults.flatMap(expectedSuites))].sort();
}

/**
 * The run proving what `fault` breaks: every suite in both APIs, or only the suites its pack
 * must fail, in only the APIs they must fail (Gateway API faults alone: `--api gateway-api`).
 */
function faultRun(fault: FaultName): Promise<Run> {
  const pack = packOf(fault);
  const suites = packSuites(pack);
  const selection = pack.some(runsAlone)
    ? ['--api', 'both']
    : ['--suite', suites.join(','), '--api', faultApiFlag(fault)];
  const mustFail = pack.some((each) => expectedSuites(each).length > 0);
  // A fault that must break nothing keeps the budgets the simulated provider sizes for it.
  const budgets = mustFail ? FAILING_RUN_TIMEOUTS : PATIENT_POLLING;
  // --keep-cluster keeps the run directory, so the gateway-bypass case can read the kubeconfig's token.
  const keep = pack.includes('gateway-bypass') ? ['--keep-cluster'] : [];
  // slow-propagation's run is mostly waiting for config to arrive: its suites wait at once
  // (the default), or one after another it would be the last run of the whole `npm test`.
  const parallel = pack.includes('slow-propagation') ? ['--parallel', `${SUITE_NAMES.length}`] : [];
  return once(`faults ${pack.join(',')}`, () =>
    runInProcess([...selection, ...budgets, ...keep, ...parallel], {
      EGRESS_SIM_FAULTS: pack.join(','),
    }),
  );
}

/** The cases of `fault`'s own suites in its run (a packed run also has its pack mates'). */
function casesOf(fault: FaultName, run: Run): JUnitCase[] {
  if (runsAlone(fault)) return run.cases;
  const suites = new Set<string>(expectedSuites(fault));
  return run.cases.filter((c) => suites.has(c.suite));
}

/** One suite, in the APIs a group of shared faults leaves green, under all of them at once. */
function greenRun(suite: SuiteName, group: { apis: ApiName[]; faults: FaultName[] }): Promise<Run> {
  return once(`green ${suite} ${group.apis.join(',')}`, () =>
    runInProcess(['--suite', suite, '--api', apiFlag(group.apis)], {
      EGRESS_SIM_FAULTS: group.faults.join(','),
    }),
  );
}

function failedSuites(cases: readonly JUnitCase[]): string[] {
  return [...new Set(cases.filter((c) => c.failure !== undefined).map((c) => c.suite))].sort();
}

/** `suite api` of every variant with a failed case (a failed setup counts for its variant). */
function failedVariants(cases: readonly JUnitCase[]): string[] {
  return [
    ...new Set(
      cases
        .filter((c) => c.failure !== undefined)
        .map((c) => `${c.suite} ${c.properties.api ?? 'unknown api'}`),
    ),
  ].sort();
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
        expect(testCase.properties.api).toBeDefined();
      }
      const apis = new Set(run.cases.filter((c) => !c.skipped).map((c) => c.properties.api));
      expect(apis).toContain('istio-api');
      expect(apis).toContain('gateway-api');
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
  const matrix = [...FAULTS]
    .sort((a, b) => Number(runsAlone(b)) - Number(runsAlone(a)))
    .map((fault): [FaultName, string] => [fault, expectedVariants(fault).join(', ') || 'none']);

  it.concurrent.each(matrix)(
    'with fault %s, exactly these variants fail: %s; naming the behaviour and the evidence',
    { timeout: 900_000 },
    async (fault) => {
      const expected = expectedSuites(fault);
      // What its own run leaves out passes under it, with other faults sharing the run.
      const leftOut = runsAlone(fault)
        ? []
        : SUITE_NAMES.flatMap((suite) =>
            greenGroups(suite)
              .filter((group) => group.faults.includes(fault))
              .map((group) => ({ suite, group })),
          );
      if (!runsAlone(fault)) {
        for (const suite of SUITE_NAMES) {
          const proven = leftOut.filter((entry) => entry.suite === suite);
          expect(proven.flatMap((entry) => entry.group.apis).sort(), suite).toEqual(
            apisLeftGreen(fault, suite).sort(),
          );
        }
      }
      const greens = leftOut.map(({ suite, group }) => greenRun(suite, group));
      const run = await faultRun(fault);
      const pack = packOf(fault);
      expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(expected.length > 0 ? 1 : 0);
      expect(failedSuites(casesOf(fault, run))).toEqual(expected);
      expect(failedVariants(casesOf(fault, run))).toEqual(expectedVariants(fault));
      // Nothing else failed in the run: exactly the variants its pack must fail.
      expect(failedVariants(run.cases)).toEqual(pack.flatMap(expectedVariants).sort());
      expect(new Set(run.cases.map((c) => c.suite))).toEqual(new Set(packSuites(pack)));
      for (const failed of casesOf(fault, run).filter((c) => c.failure !== undefined)) {
        expect(failed.failure).toMatch(/^\[B\d/);
        expect(failed.failure).toMatch(/Last observation:/);
        expect(failed.failure).toMatch(/Hint:/);
      }
      for (const [index, green] of (await Promise.all(greens)).entries()) {
        const { suite, group } = leftOut[index]!;
        expect(green.exitCode, `${green.stdout}\n${green.stderr}`).toBe(0);
        expect(failedSuites(green.cases)).toEqual([]);
        expect(new Set(green.cases.map((c) => c.suite))).toEqual(new Set([suite]));
        const ran = green.cases.filter((c) => c.skipped === undefined && c.properties.api);
        expect(new Set(ran.map((c) => c.properties.api))).toEqual(
          new Set(group.apis.length === 1 ? group.apis : [...group.apis, group.apis.join(',')]),
        );
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
      const identityFailed = casesOf('wrong-gateway-identity', identity).filter(
        (c) => c.failure !== undefined,
      );
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
      const ignoredFailed = casesOf('registry-only-ignored', ignored).filter(
        (c) => c.failure !== undefined,
      );
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
    'gateway-not-programmed: the gateway-api cases fail at the status wait, naming the condition, its message and the budget',
    { timeout: 900_000 },
    async () => {
      const run = await faultRun('gateway-not-programmed');
      const failures = casesOf('gateway-not-programmed', run).filter(
        (c) => c.failure !== undefined,
      );
      expect(failures.length).toBeGreaterThan(0);
      for (const failed of failures) {
        expect(failed.properties.api).toBe('gateway-api');
        expect(failed.failure).toMatch(
          /^\[B[1-4]\.status\] Expected Gateway \S+ to report Programmed=True within \d+ ms \(gatewayProgrammed\)/,
        );
        expect(failed.failure).toMatch(
          /Last observation: Gateway \S+: condition Programmed is False \(NoResources: Deployment \S+-istio has no ready replica\)/,
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
