/**
 * The interrupt matrix (issue 10, item 3): a run is cancelled at many points of setup, suites
 * and cleanup, each chosen by a progress line the CLI prints (so the point is deterministic),
 * with SIGINT or SIGTERM, to the CLI alone or to its whole process group. After each: cleanup
 * ran, the exit code is 130/143, no process of the run is left, nothing the run created is
 * left (namespaces with its run label; the kind cluster it created), and every label it
 * borrowed holds its old value. Runs against a simulated cluster served from this process
 * (`--cluster existing`, so what a run leaves can be read after it ends) and on the kind path
 * with the stand-in kind/istioctl/docker. Also: a second signal during cleanup stops at once
 * and prints what may be left and the one command that removes it, which does.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, PATIENT_POLLING, withCliSlot, ISTIO_API_ONLY, parseJUnit } from './cli.ts';
import {
  existingRunArgs,
  runNamespaces,
  serveCluster,
  sharedMetadata,
  type ServedCluster,
} from './served-cluster.ts';
import { pollUntil } from '../../harness/wait.ts';

const STANDIN_BIN = fileURLToPath(new URL('../../simulator/bin', import.meta.url));
const NODE_BIN = path.dirname(process.execPath);

/** One interrupt point. */
interface Point {
  /** The progress line (stdout or stderr) after which the signal goes. */
  after: RegExp;
  phase: 'setup' | 'suites' | 'cleanup';
  signal: 'SIGINT' | 'SIGTERM';
  /** To the whole process group (Ctrl-C, a runner killing the job's group) or the CLI alone. */
  group: boolean;
  /**
   * The suite the run selects on the simulated cluster: the one the point's line belongs to
   * (one suite per run keeps the matrix's CPU down); network-policy, which borrows labels on
   * shared namespaces, everywhere else.
   */
  suite?: 'network-policy' | 'http-gateway';
}

const test = (name: string): RegExp => new RegExp(`✓ [^\\n]*${name}`);

/** On the served simulated cluster: network-policy (borrows labels) or http-gateway, mTLS off. */
const SIMULATED_POINTS: Point[] = [
  { after: /\] preflight: start/, phase: 'setup', signal: 'SIGINT', group: false },
  { after: /\] preflight: done/, phase: 'setup', signal: 'SIGTERM', group: true },
  { after: /\] cluster: start/, phase: 'setup', signal: 'SIGTERM', group: false },
  { after: /\] cluster: done/, phase: 'setup', signal: 'SIGINT', group: true },
  {
    after: test('B1 negative control'),
    phase: 'suites',
    signal: 'SIGTERM',
    group: false,
    suite: 'http-gateway',
  },
  { after: test('B4\\.1 '), phase: 'suites', signal: 'SIGINT', group: false },
  { after: test('B4\\.2-4 '), phase: 'suites', signal: 'SIGTERM', group: true },
  { after: test('B1\\.1 '), phase: 'suites', signal: 'SIGINT', group: true, suite: 'http-gateway' },
  { after: test('B4\\.5 '), phase: 'suites', signal: 'SIGINT', group: false },
  { after: test('B4\\.6 '), phase: 'suites', signal: 'SIGTERM', group: false },
  { after: test('B4\\.7 '), phase: 'cleanup', signal: 'SIGTERM', group: true },
  {
    after: test('http-gateway › B6'),
    phase: 'cleanup',
    signal: 'SIGINT',
    group: false,
    suite: 'http-gateway',
  },
  { after: /JUnit report written/, phase: 'cleanup', signal: 'SIGTERM', group: false },
  { after: /passed, \d+ failed/, phase: 'cleanup', signal: 'SIGINT', group: true },
];

/** On the kind path with stand-ins: network-policy only. */
const KIND_POINTS: Point[] = [
  { after: /kind cluster: start \(creating/, phase: 'setup', signal: 'SIGTERM', group: false },
  { after: /kind: .*Starting control-plane/, phase: 'setup', signal: 'SIGINT', group: true },
  { after: /kind cluster: done/, phase: 'setup', signal: 'SIGINT', group: false },
  { after: /\] istio: start/, phase: 'setup', signal: 'SIGTERM', group: true },
  { after: /istio: done/, phase: 'setup', signal: 'SIGTERM', group: false },
  { after: test('B4\\.2-4 '), phase: 'suites', signal: 'SIGINT', group: true },
  { after: test('B4\\.6 '), phase: 'suites', signal: 'SIGTERM', group: false },
  { after: /JUnit report written/, phase: 'cleanup', signal: 'SIGINT', group: false },
  { after: /kind cluster: start \(deleting/, phase: 'cleanup', signal: 'SIGTERM', group: true },
];

/** How many points the matrix has (the README gives the figure). */
export const INTERRUPT_POINTS = SIMULATED_POINTS.length + KIND_POINTS.length;

interface Interrupted {
  code: number | null;
  output: string;
  pid: number;
  sent: boolean;
  reports: string;
  /** From the signal to the CLI's exit (not the wait for a CLI slot before it started). */
  stoppedInMs: number;
}

/** Runs `argv` in its own process group, signals it after `point.after`, waits for its exit. */
function interrupt(
  argv: string[],
  point: Point,
  { cwd, env }: { cwd: string; env: Record<string, string> },
): Promise<Interrupted> {
  return withCliSlot(async () => {
    const child = spawn(process.execPath, argv, { cwd, detached: true, env });
    let output = '';
    let sent = false;
    let sentAt = 0;
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (!sent && point.after.test(output)) {
        sent = true;
        sentAt = Date.now();
        process.kill(point.group ? -(child.pid ?? 0) : (child.pid ?? 0), point.signal);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const stoppedInMs = sent ? Date.now() - sentAt : 0;
    return { code, output, pid: child.pid ?? 0, sent, reports: cwd, stoppedInMs };
  });
}

/** Waits until no process of the run's group is alive (children exit just after the CLI). */
async function groupMustEnd(pid: number): Promise<void> {
  await pollUntil({
    what: `every process of the run's group ${pid} to exit`,
    timeoutMs: 10_000,
    intervalMs: 100,
    observe: () => {
      try {
        process.kill(-pid, 0);
        return Promise.resolve('alive');
      } catch {
        return Promise.resolve('gone');
      }
    },
    done: (state) => state === 'gone',
  });
}

function expectGracefulStop(run: Interrupted, point: Point): void {
  const output = run.output;
  expect(run.sent, `the line ${String(point.after)} never came:\n${output}`).toBe(true);
  expect(output).toContain(`interrupted by ${point.signal}: cleaning up`);
  expect(output).not.toContain('again: stopping without finishing cleanup');
  expect(run.code, output).toBe(point.signal === 'SIGTERM' ? 143 : 130);
}

async function runIdOf(reports: string, output: string): Promise<string | undefined> {
  const json = await readFile(path.join(reports, 'reports', 'conformance.json'), 'utf8').catch(
    () => '',
  );
  const fromReport = json ? (JSON.parse(json) as { run?: { id?: string } }).run?.id : undefined;
  return fromReport ?? /egc-([0-9a-f]{6})-/.exec(output)?.[1];
}

let served: ServedCluster;
let work: string;

beforeAll(async () => {
  served = await serveCluster();
  work = await mkdtemp(path.join(tmpdir(), 'egc-interrupts-'));
});

afterAll(async () => {
  await served.stop();
  await rm(work, { recursive: true, force: true });
});

describe(`the interrupt matrix (${INTERRUPT_POINTS} points)`, { timeout: 900_000 }, () => {
  it('has at least 20 points over setup, suites and cleanup, on both paths', () => {
    expect(INTERRUPT_POINTS).toBeGreaterThanOrEqual(20);
    for (const points of [SIMULATED_POINTS, KIND_POINTS]) {
      expect(new Set(points.map((p) => p.phase))).toEqual(new Set(['setup', 'suites', 'cleanup']));
      expect(new Set(points.map((p) => `${p.signal} ${p.group}`)).size).toBe(4);
    }
  });

  it.concurrent(
    'on the simulated cluster: every point stops gracefully and leaves nothing',
    async () => {
      const before = await sharedMetadata(served.kube);
      const runs = await Promise.all(
        SIMULATED_POINTS.map(async (point) => {
          const cwd = await mkdtemp(path.join(work, 'existing-'));
          const run = await interrupt(
            existingRunArgs(served, path.join(cwd, 'reports'), [
              '--suite',
              point.suite ?? 'network-policy',
              '--mtls',
              'disabled',
              ...ISTIO_API_ONLY,
            ]),
            point,
            { cwd, env: { ...process.env, EGRESS_SIM_PROFILE: '' } },
          );
          return { point, run };
        }),
      );
      for (const { point, run } of runs) {
        expectGracefulStop(run, point);
        await groupMustEnd(run.pid);
        const runId = await runIdOf(run.reports, run.output);
        expect(runId, run.output).toBeDefined();
        expect(
          await runNamespaces(served.kube, runId),
          `interrupted after ${String(point.after)}:\n${run.output}`,
        ).toEqual([]);
      }
      expect(await runNamespaces(served.kube)).toEqual([]);
      expect(await sharedMetadata(served.kube)).toEqual(before);
    },
  );

  it.concurrent(
    'on the kind path: every point stops gracefully, the cluster is deleted',
    async () => {
      const runs = await Promise.all(
        KIND_POINTS.map(async (point, index) => {
          const cwd = await mkdtemp(path.join(work, 'kind-'));
          const name = `egc-int-${index}`;
          const tools = {
            PATH: `${STANDIN_BIN}:${NODE_BIN}:${process.env.PATH ?? ''}`,
            // A state folder per run: `kind get clusters` removes half-created clusters in its folder.
            EGRESS_SIM_STATE_DIR: path.join(cwd, 'state'),
            EGRESS_SIM_WORLD_HOSTS: 'edition.cnn.com',
            XDG_CACHE_HOME: path.join(work, 'cache'),
            HOME: cwd,
          };
          const run = await interrupt(
            [
              CLI,
              '--cluster-name',
              name,
              '--external',
              'internet',
              '--suite',
              'network-policy',
              ...ISTIO_API_ONLY,
              '--reports',
              path.join(cwd, 'reports'),
              '--timeout',
              'podReady=20000',
              '--timeout',
              'deletion=20000',
              ...PATIENT_POLLING,
            ],
            point,
            { cwd, env: { ...process.env, ...tools } },
          );
          return { point, run, name, tools };
        }),
      );
      for (const { point, run, name, tools } of runs) {
        expectGracefulStop(run, point);
        await groupMustEnd(run.pid);
        const clusters = await execa('kind', ['get', 'clusters'], {
          env: { ...process.env, ...tools },
          reject: false,
        });
        expect(String(clusters.stdout), run.output).not.toContain(name);
      }
    },
  );

  // Its own cluster, with a fault: the case after B1.1 waits for an access-log entry that never comes.
  it.concurrent(
    'a signal during a case that waits its budget ends the wait at once: the case is reported as interrupted, not failed',
    async () => {
      const own = await serveCluster({ EGRESS_SIM_FAULTS: 'gateway-bypass' });
      try {
        const cwd = await mkdtemp(path.join(work, 'waiting-'));
        const point: Point = {
          after: test('B1\\.1 '),
          phase: 'suites',
          signal: 'SIGINT',
          group: false,
        };
        const budgetMs = 600_000;
        const run = await interrupt(
          [
            ...existingRunArgs(own, path.join(cwd, 'reports'), [
              '--suite',
              'http-gateway',
              '--mtls',
              'disabled',
              ...ISTIO_API_ONLY,
              '--junit',
              path.join(cwd, 'junit.xml'),
            ]),
            // After the served cluster's own budgets: the last value of a setting wins.
            '--timeout',
            `configPropagation=${budgetMs}`,
          ],
          point,
          { cwd, env: { ...process.env, EGRESS_SIM_PROFILE: '' } },
        );
        expectGracefulStop(run, point);
        // Before: the case waited out its ten minutes, then cleanup ran.
        expect(run.stoppedInMs, run.output).toBeLessThan(budgetMs / 10);
        const cases = parseJUnit(await readFile(path.join(cwd, 'junit.xml'), 'utf8'));
        const waiting = cases.find((c) => /B1\.2 /.test(c.name));
        expect(waiting?.failure, run.output).toBeUndefined();
        expect(waiting?.skipped, run.output).toMatch(
          /^interrupted: the run was cancelled during this case, while waiting for the gateway's access-log entry for http:\/\/edition\.cnn\.com\//,
        );
        expect(await runNamespaces(own.kube)).toEqual([]);
      } finally {
        await own.stop();
      }
    },
  );

  // Its own cluster: it leaves namespaces behind by design (until the printed command removes
  // them), which the matrix above, running at the same time, would count as its own leftovers.
  it.concurrent(
    'a second signal during cleanup stops at once, naming what is left and the command that removes it',
    async () => {
      const own = await serveCluster();
      try {
        const before = await sharedMetadata(own.kube);
        const cwd = await mkdtemp(path.join(work, 'twice-'));
        const run = await withCliSlot(async () => {
          const child = spawn(
            process.execPath,
            existingRunArgs(own, path.join(cwd, 'reports'), [
              '--suite',
              'http-gateway',
              '--mtls',
              'disabled',
              ...ISTIO_API_ONLY,
            ]),
            { cwd, detached: true, env: { ...process.env, EGRESS_SIM_PROFILE: '' } },
          );
          let output = '';
          let signals = 0;
          const onData = (chunk: Buffer): void => {
            output += chunk.toString();
            // The first signal once the suite has created its namespaces, the second as cleanup starts.
            if (signals === 0 && /✓ [^\n]*B1 negative control/.test(output)) {
              signals = 1;
              process.kill(child.pid ?? 0, 'SIGTERM');
            } else if (signals === 1 && /interrupted by SIGTERM: cleaning up/.test(output)) {
              signals = 2;
              process.kill(child.pid ?? 0, 'SIGINT');
            }
          };
          child.stdout.on('data', onData);
          child.stderr.on('data', onData);
          const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
          return { code, output, pid: child.pid ?? 0 };
        });
        expect(run.code, run.output).toBe(130);
        await groupMustEnd(run.pid);
        const message = /SIGINT again: stopping without finishing cleanup\.[^\n]*/.exec(
          run.output,
        )?.[0];
        expect(message, run.output).toBeDefined();
        const command = /Remove the namespaces with: (kubectl [^\n]+)/.exec(message ?? '')?.[1];
        expect(command, message).toMatch(
          /^kubectl --kubeconfig \S+ delete namespaces -l egress-conformance\.io\/run=[0-9a-f]{6}$/,
        );
        const runId = /run=([0-9a-f]{6})/.exec(command ?? '')?.[1] ?? '';
        // The run folder with its kubeconfig copy is not left behind.
        expect(
          await readFile(path.join(cwd, '.runs', runId, 'kubeconfig'), 'utf8').catch(() => 'gone'),
        ).toBe('gone');
        const hasKubectl =
          (await execa('kubectl', ['version', '--client'], { reject: false })).exitCode === 0;
        if (hasKubectl) {
          // The printed command removes what the run left.
          const [program = '', ...args] = (command ?? '').split(' ');
          const removal = await execa(program, [...args, '--wait=true'], { reject: false });
          expect(removal.exitCode, String(removal.stderr)).toBe(0);
        }
        expect(await runNamespaces(own.kube, runId)).toEqual([]);
        expect(await sharedMetadata(own.kube)).toEqual(before);
      } finally {
        await own.stop();
      }
    },
  );
});
