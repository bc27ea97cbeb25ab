/**
 * Upgrade runs end to end (issue 12): `--upgrade-from` in place and canary pass with both
 * phases and the disruption table in every report (the long-lived connection broken by the
 * gateway's replacement and re-established, which is no disruption); each upgrade fault of the simulated
 * cluster fails the run with the failed requests counted and attributed to a step; and the
 * two-phase mode (`--disruption start`, the user's own upgrade, `--disruption check`)
 * against `npm run sim` as its own process with `--cluster existing`, green and under the
 * skew fault.
 *
 * One small suite and one variant keep each run short: what is tested here is the upgrade
 * around the suites, which tests/e2e/conformance.e2e.test.ts covers on their own.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { connect } from '../../harness/k8s/client.ts';
import { writeOverlay } from '../../harness/istio/overlay.ts';
import { restartDeployment } from '../../harness/k8s/workloads.ts';
import { RUN_LABEL } from '../../harness/run-labels.ts';
import type { UpgradeSection } from '../../harness/upgrade/report.ts';
import { OLD_PROXY_THROUGH_NEW_GATEWAY_FAILURE } from '../../harness/facts/upgrade.ts';
import {
  CLI,
  existingClusterArgs,
  parseJUnit,
  runInProcess,
  withCliSlot,
  type JUnitCase,
} from './cli.ts';

const FROM = '1.30.5';
const TO = '1.31.1';

/** One variant and a fast probe, for one suite; pods take simulated time to start, as rollouts need. */
const ONE_VARIANT = ['--mtls', 'disabled', '--api', 'istio-api', '--probe-interval', '100'];
const ARGS = ['--suite', 'dr-lookup', ...ONE_VARIANT];
// A gateway pod's termination drain scaled down as pod start is (5 s in Istio): the long-lived
// connection breaks, and reconnects, within the run.
const ENV = { EGRESS_SIM_POD_START_MS: '150', EGRESS_SIM_TERMINATION_DRAIN_MS: '100' };

interface Outcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  cases: JUnitCase[];
  upgrade: UpgradeSection | undefined;
  json: { upgrade?: UpgradeSection } | undefined;
  summary: string;
}

async function reportsOf(reports: string): Promise<Pick<Outcome, 'upgrade' | 'json' | 'summary'>> {
  const yamlText = await readFile(path.join(reports, 'conformance.yaml'), 'utf8').catch(() => '');
  const jsonText = await readFile(path.join(reports, 'conformance.json'), 'utf8').catch(() => '');
  const yaml = yamlText ? (parse(yamlText) as { upgrade?: UpgradeSection }) : undefined;
  return {
    upgrade: yaml?.upgrade,
    json: jsonText ? (JSON.parse(jsonText) as { upgrade?: UpgradeSection }) : undefined,
    summary: await readFile(path.join(reports, 'summary.md'), 'utf8').catch(() => ''),
  };
}

async function upgradeRun(extra: string[], env: Record<string, string> = {}): Promise<Outcome> {
  const run = await runInProcess(['--upgrade-from', FROM, ...ARGS, ...extra], { ...ENV, ...env });
  return { ...run, ...(await reportsOf(run.reports)) };
}

function phaseCases(cases: readonly JUnitCase[], phase: string): JUnitCase[] {
  return cases.filter((entry) => entry.name.startsWith(`[${phase}] `));
}

/** The disruption cases (one per path), apart from the mixed-version checks. */
function disruptionCasesOf(cases: readonly JUnitCase[]): JUnitCase[] {
  return phaseCases(cases, 'upgrade').filter((entry) => entry.name.includes(' stays up '));
}

function mixedCasesOf(cases: readonly JUnitCase[]): JUnitCase[] {
  return phaseCases(cases, 'upgrade').filter((entry) => entry.name.includes('mixed versions'));
}

function expectGreenUpgrade(run: Outcome, style: string): void {
  expect(run.exitCode, run.stderr + run.stdout).toBe(0);
  expect(phaseCases(run.cases, 'before').length).toBeGreaterThan(0);
  expect(phaseCases(run.cases, 'after').length).toBe(phaseCases(run.cases, 'before').length);
  const disruption = disruptionCasesOf(run.cases);
  expect(disruption.map((entry) => entry.name.split(' on the ')[1]?.split(' ')[0])).toEqual([
    'http',
    'tls',
    'mtls',
    undefined,
  ]);
  expect(disruption.at(-1)?.name).toContain('stays up for one long-lived TLS connection');
  expect(disruption.every((entry) => entry.failure === undefined)).toBe(true);
  // While old and new proxies were mixed, B1/B3 (and B2 on the mTLS path) held with gateway evidence.
  const mixed = mixedCasesOf(run.cases);
  expect(mixed.map((entry) => /: (B\d) holds/.exec(entry.name)?.[1])).toEqual(['B1', 'B3', 'B2']);
  expect(mixed.filter((entry) => entry.failure).map((entry) => entry.failure)).toEqual([]);
  for (const section of [run.upgrade, run.json?.upgrade]) {
    expect(section).toMatchObject({ mode: 'upgrade', from: FROM, to: TO, style, result: 'passed' });
    for (const row of section?.disruption ?? []) {
      expect(row.sent).toBeGreaterThan(5);
      expect(row.failed).toBe(0);
    }
    // The gateway's pods were replaced under the long-lived connection: it broke (their drain
    // ended) and came back at once, which is no disruption.
    const connection = section?.disruption.find((row) => row.path === 'tls-connection');
    expect(connection?.connection?.breaks, JSON.stringify(connection)).toBeGreaterThan(0);
    expect(
      Object.values(connection?.connection?.breaksByStep ?? {}).reduce((a, b) => a + b, 0),
    ).toBe(connection?.connection?.breaks);
    expect(section?.steps.length).toBeGreaterThanOrEqual(4);
    // The versions each side ran in the mixed window: A's sidecars and B's gateway in place,
    // B's sidecars and A's gateway in a canary (the gateway moves last).
    const [clients, gateway] = style === 'canary' ? [TO, FROM] : [FROM, TO];
    expect(section?.proxyVersions).toMatchObject([
      { clients: [clients], gateway: [gateway], mixed: true },
    ]);
  }
  expect(run.summary).toContain(`## Upgrade ${FROM} → ${TO} (${style})`);
  expect(run.summary).toMatch(/\| http \| \d+ \| 0 \|/);
  expect(run.summary).toMatch(/\| tls-connection \| \d+ \| 0 \| .* \| \d+ breaks?/);
}

describe('upgrade runs on the simulated cluster', () => {
  it.concurrent(
    'in place: exit 0, both phases, the disruption table in JUnit, conformance.yaml/json and summary.md',
    { timeout: 900_000 },
    async () => {
      expectGreenUpgrade(await upgradeRun([]), 'in-place');
    },
  );

  it.concurrent('canary: the same', { timeout: 900_000 }, async () => {
    const run = await upgradeRun(['--upgrade-style', 'canary']);
    expectGreenUpgrade(run, 'canary');
    expect(run.upgrade?.steps.map((step) => step.name)).toContain(
      'istioctl uninstall --revision default',
    );
  });

  it.concurrent.each([
    // The gateway's replicas all go at once: failures while the gateway is replaced.
    ['upgrade-drops-traffic', /istioctl 1\.31\.1 install|restart the gateway/],
    // Old sidecars through the new gateway (istio/istio#22842): failures until the workloads restart.
    ['skew-breaks-old-proxies', /mixed versions: old sidecars, new gateway/],
  ])(
    'fault %s: exit 1, the failed requests counted and attributed to a step',
    { timeout: 900_000 },
    async (fault, step) => {
      const run = await upgradeRun([], { EGRESS_SIM_FAULTS: fault });
      expect(run.exitCode, run.stderr).toBe(1);
      const failed = disruptionCasesOf(run.cases).filter((entry) => entry.failure);
      expect(failed.length).toBeGreaterThan(0);
      for (const entry of failed) {
        // The figures are in the message: "N of M requests failed (… during "<step>" …)".
        expect(entry.failure).toMatch(/\d+ of \d+ requests failed \(/);
        expect(entry.failure).toMatch(/during "/);
      }
      const rows = run.upgrade?.disruption ?? [];
      expect(rows.some((row) => row.failed > 0)).toBe(true);
      const steps = rows.flatMap((row) => Object.keys(row.byStep));
      expect(steps.some((name) => step.test(name))).toBe(true);
      if (fault === 'skew-breaks-old-proxies') {
        // The failure class carries the client sidecar's Envoy response flags.
        expect(rows.find((row) => row.path === 'http')?.byClass).toHaveProperty([
          `HTTP 503 ${OLD_PROXY_THROUGH_NEW_GATEWAY_FAILURE.responseFlags}`,
        ]);
        // And the mixed-version checks fail: the probe requests no longer reach the host.
        expect(mixedCasesOf(run.cases).every((entry) => entry.failure !== undefined)).toBe(true);
        // The long-lived connection, once its old gateway pod drained, cannot reconnect.
        expect(rows.find((row) => row.path === 'tls-connection')).toMatchObject({
          byClass: { reset: expect.any(Number) as unknown },
          connection: { breaks: expect.any(Number) as unknown },
        });
      }
      // The suites themselves still pass: the failure is the disruption's alone.
      expect(phaseCases(run.cases, 'after').every((entry) => entry.failure === undefined)).toBe(
        true,
      );
    },
  );

  it.concurrent(
    'a cluster istioctl x precheck refuses (Kubernetes below its minimum): exit 2 after phase before, one sentence naming the message, nothing upgraded',
    { timeout: 900_000 },
    async () => {
      const run = await upgradeRun([], { EGRESS_SIM_PROFILE: 'old-kubernetes' });
      expect(run.exitCode, run.stdout).toBe(2);
      const complaint = run.stderr.trim().split('\n');
      expect(complaint).toHaveLength(1);
      expect(complaint[0]).toMatch(
        /istioctl x precheck found the cluster not safe to upgrade: Error \[IST0142\] \(Cluster\) The Kubernetes Version "v1\.31\.2" is lower than the minimum version: 1\.32/,
      );
      expect(phaseCases(run.cases, 'before').length).toBeGreaterThan(0);
      expect(phaseCases(run.cases, 'after')).toEqual([]);
      expect(run.upgrade?.steps ?? []).toEqual([]);
      expect(run.stdout).not.toMatch(/upgrade step:/);
    },
  );
});

const ISTIOCTL = fileURLToPath(new URL('../../simulator/bin/istioctl', import.meta.url));
const SIM_MAIN = fileURLToPath(new URL('../../simulator/sim-main.ts', import.meta.url));

/**
 * The two-phase runs select one suite, one variant, in Istio's API: what they test is the
 * mode around the suites (the issue's "works against npm run sim with --cluster existing").
 */
const TWO_PHASE_ARGS = ['--suite', 'http-gateway', ...ONE_VARIANT];

interface Sim {
  kubeconfig: string;
  /** SIGTERM, as Ctrl-C would; the exit code. */
  stop: () => Promise<number | undefined>;
}

/** `npm run sim` (simulator/sim-main.ts) as its own process, with Istio `FROM` installed. */
async function startSim(dir: string, faults: string): Promise<Sim> {
  const kubeconfig = path.join(dir, 'sim.kubeconfig');
  const child = execa(
    process.execPath,
    [SIM_MAIN, '--kubeconfig', kubeconfig, '--istio-version', FROM],
    {
      reject: false,
      timeout: 600_000,
      env: { EGRESS_SIM_FAULTS: faults, EGRESS_SIM_POD_START_MS: '150', EGRESS_SIM_PROFILE: '' },
    },
  );
  let output = '';
  // It says it is ready once its kubeconfig is written; it may instead end on a bad setting.
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Simulated cluster ready at')) resolve();
    });
    void child.then((result) =>
      reject(new Error(`npm run sim ended (${result.exitCode}): ${output}${result.stderr}`)),
    );
  });
  return {
    kubeconfig,
    stop: async () => {
      child.kill('SIGTERM');
      return (await child).exitCode;
    },
  };
}

/** The namespaces a run created (labelled with its id) that are still there. */
async function runNamespaces(kubeconfig: string): Promise<string[]> {
  const list = await connect({ kubeconfigPath: kubeconfig }).core.listNamespace({
    labelSelector: RUN_LABEL,
  });
  return list.items.map((namespace) => namespace.metadata?.name ?? '');
}

/**
 * Against `npm run sim` with `--cluster existing`: `--disruption start`, an in-place upgrade
 * by "the user's tooling" (the stand-in istioctl of B and a rollout restart of the gateway),
 * then `--disruption check --id` with `checkArgs`.
 */
async function twoPhase(
  faults: string,
  checkArgs: string[],
  checkEnv: Record<string, string> = {},
): Promise<{
  start: Outcome;
  check: Outcome;
  left: string[];
  leftAfterStart: string[];
  simExit: number | undefined;
}> {
  const dir = await mkdtemp(path.join(tmpdir(), 'egc-two-phase-'));
  const sim = await startSim(dir, faults);
  const cli = async (
    phase: string,
    extra: string[],
    env: Record<string, string> = {},
  ): Promise<Outcome> => {
    const reports = path.join(dir, `reports-${phase}`);
    const result = await execa(
      process.execPath,
      [
        CLI,
        ...existingClusterArgs(sim.kubeconfig),
        '--reports',
        reports,
        '--junit',
        path.join(reports, 'junit.xml'),
        ...TWO_PHASE_ARGS,
        ...extra,
      ],
      { reject: false, cwd: dir, timeout: 180_000, env: { EGRESS_SIM_FAULTS: '', ...env } },
    );
    const xml = await readFile(path.join(reports, 'junit.xml'), 'utf8').catch(() => '');
    return {
      exitCode: result.exitCode ?? -1,
      stdout: String(result.stdout),
      stderr: String(result.stderr),
      cases: parseJUnit(xml),
      ...(await reportsOf(reports)),
    };
  };
  let outcome: { start: Outcome; check: Outcome; left: string[]; leftAfterStart: string[] };
  let simExit: number | undefined;
  try {
    const start = await cli('start', ['--disruption', 'start']);
    const id = /\(id ([a-z0-9]+)\)/.exec(start.stdout)?.[1];
    const leftAfterStart = await runNamespaces(sim.kubeconfig);
    if (start.exitCode !== 0 || !id) {
      outcome = { start, check: start, left: leftAfterStart, leftAfterStart };
    } else {
      // The user's upgrade: istioctl B over A with the gateway at 2 replicas, then the gateway restarted.
      const overlay = await writeOverlay(dir, {
        outboundTrafficPolicy: 'ALLOW_ANY',
        accessLogEncoding: 'TEXT',
        egressGateway: true,
        gatewayReplicas: 2,
      });
      await execa(ISTIOCTL, ['install', '-y', '-f', overlay, '--kubeconfig', sim.kubeconfig], {
        env: { EGRESS_SIM_ISTIOCTL_VERSION: TO },
      });
      await restartDeployment(
        connect({ kubeconfigPath: sim.kubeconfig }),
        'istio-system',
        'istio-egressgateway',
      );
      const check = await cli(
        'check',
        ['--disruption', 'check', '--id', id, ...checkArgs],
        checkEnv,
      );
      outcome = { start, check, left: await runNamespaces(sim.kubeconfig), leftAfterStart };
    }
  } finally {
    simExit = await sim.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return { ...outcome, simExit };
}

describe('two-phase mode against npm run sim (--cluster existing)', () => {
  it.concurrent(
    'start: phase before, probes left running, an id; check: mixed versions, istioctl analyze, phase after, exit 0, nothing left',
    { timeout: 900_000 },
    async () => {
      const run = await withCliSlot(() => twoPhase('', ['--istioctl', ISTIOCTL]));
      const { start, check } = run;
      expect(start.exitCode, start.stderr).toBe(0);
      expect(phaseCases(start.cases, 'before').length).toBeGreaterThan(0);
      expect(start.upgrade).toMatchObject({ mode: 'start', from: FROM });
      // The probes stay for check (one external host for every path: the HTTP path alone).
      expect(run.leftAfterStart).toEqual([`egc-${start.upgrade?.id ?? ''}-probe-http`]);
      expect(check.exitCode, check.stderr + check.stdout).toBe(0);
      expect(phaseCases(check.cases, 'after').length).toBeGreaterThan(0);
      expect(check.upgrade).toMatchObject({ mode: 'check', from: FROM, to: TO, result: 'passed' });
      expect(check.upgrade?.disruption.map((row) => row.path)).toEqual(['http']);
      for (const row of check.upgrade?.disruption ?? []) expect(row.sent).toBeGreaterThan(5);
      // The bare probe pods keep A's proxy; the upgraded gateway runs B's: mixed, and B1 holds.
      expect(check.upgrade?.proxyVersions).toMatchObject([
        { clients: [FROM], gateway: [TO], mixed: true },
      ]);
      const mixed = mixedCasesOf(check.cases);
      expect(
        mixed.map((entry) => /: (B\d) holds on the (\w+) path/.exec(entry.name)?.slice(1)),
      ).toEqual([['B1', 'http']]);
      expect(mixed.filter((entry) => entry.failure).map((entry) => entry.failure)).toEqual([]);
      // istioctl analyze on the probe namespace, with the --istioctl given.
      expect(check.upgrade?.analyze.map((entry) => entry.namespace)).toEqual(run.leftAfterStart);
      expect(check.upgrade?.analyze[0]?.output).toContain('No validation issues');
      expect(check.upgrade?.analyzeNotRun).toBeUndefined();
      expect(check.summary).toContain(`Disruption ${FROM} → ${TO}`);
      expect(check.summary).toContain(`Proxies (mixed versions: sidecars ${FROM}, gateway ${TO})`);
      // Cleanup: no namespace of either run is left, and npm run sim stops cleanly.
      expect(run.left).toEqual([]);
      expect(run.simExit).toBe(0);
    },
  );

  it.concurrent(
    'check fails (exit 1) when old proxies lose egress through the new gateway (skew-breaks-old-proxies); no istioctl: analyze not run, said why',
    { timeout: 900_000 },
    async () => {
      // No istioctl anywhere: a PATH with node alone.
      const { check, left } = await withCliSlot(() =>
        twoPhase('skew-breaks-old-proxies', [], { PATH: path.dirname(process.execPath) }),
      );
      expect(check.exitCode, check.stderr).toBe(1);
      const rows = check.upgrade?.disruption ?? [];
      expect(
        rows.filter((row) => row.failed > 0).map((row) => row.path),
        JSON.stringify(rows),
      ).toEqual(['http']);
      expect(disruptionCasesOf(check.cases).find((entry) => entry.failure)?.failure).toMatch(
        /\d+ of \d+ requests failed \(.*during "(the upgrade by other tooling|mixed versions)/,
      );
      expect(mixedCasesOf(check.cases).every((entry) => entry.failure !== undefined)).toBe(true);
      expect(check.upgrade?.analyze).toEqual([]);
      expect(check.upgrade?.analyzeNotRun).toMatch(/no istioctl on PATH and no --istioctl/);
      expect(check.summary).toContain('istioctl analyze: not run (');
      expect(left).toEqual([]);
    },
  );
});
