/** Helpers for the end-to-end tests: run the CLI, read its JUnit file back. */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** The CLI entry point. */
export const CLI = fileURLToPath(new URL('../../harness/cli.ts', import.meta.url));

/** A test case as read back from the JUnit file. */
export interface JUnitCase {
  suite: string;
  name: string;
  failure?: string;
  skipped?: string;
  properties: Record<string, string>;
  systemOut?: string;
}

function unescapeXml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');
}

/** Reads our JUnit file back (only the shapes our writer produces). */
export function parseJUnit(xml: string): JUnitCase[] {
  const cases: JUnitCase[] = [];
  for (const suiteMatch of xml.matchAll(/<testsuite name="([^"]*)"[\s\S]*?<\/testsuite>/g)) {
    const suite = unescapeXml(suiteMatch[1] ?? '');
    for (const caseMatch of suiteMatch[0].matchAll(
      /<testcase [^>]*name="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g,
    )) {
      const body = caseMatch[2] ?? '';
      const properties: Record<string, string> = {};
      for (const property of body.matchAll(/<property name="([^"]*)" value="([^"]*)"\/>/g)) {
        properties[unescapeXml(property[1] ?? '')] = unescapeXml(property[2] ?? '');
      }
      const failure = /<failure [^>]*>([\s\S]*?)<\/failure>/.exec(body)?.[1];
      const skipped = /<skipped message="([^"]*)"/.exec(body)?.[1];
      const systemOut = /<system-out>([\s\S]*?)<\/system-out>/.exec(body)?.[1];
      cases.push({
        suite,
        name: unescapeXml(caseMatch[1] ?? ''),
        properties,
        ...(failure !== undefined ? { failure: unescapeXml(failure) } : {}),
        ...(skipped !== undefined ? { skipped: unescapeXml(skipped) } : {}),
        ...(systemOut !== undefined ? { systemOut: unescapeXml(systemOut) } : {}),
      });
    }
  }
  return cases;
}

/**
 * Pause between disagreeing observations for runs that spend most of their time waiting
 * (for a budget to run out, for slow propagation): every observation costs an exec into
 * the cluster, and at the simulated default of 50 ms the waiting runs kept the CPU the
 * other runs need busy. Passing checks on a prompt cluster never pause.
 */
export const PATIENT_POLLING: readonly string[] = ['--timeout', 'pollInterval=1000'];

/**
 * Budgets for runs in which checks must fail: a failing check waits out its whole budget.
 * On the simulated cluster config takes effect at once (propagation 0 ms), so a passing
 * check converges in its first three observations: under 2.5 s measured with the whole
 * `npm test` running on two cores (load 5 to 8), well within the budget.
 */
export const FAILING_RUN_TIMEOUTS: readonly string[] = [
  '--timeout',
  'configPropagation=5000',
  '--timeout',
  'policyEnforcement=5000',
  // A simulated gateway's pods start at once: Programmed comes within the first poll.
  '--timeout',
  'gatewayProgrammed=5000',
  ...PATIENT_POLLING,
];

/**
 * For runs proving something the configuration API does not change (detection, faults of
 * the API server, interrupts, mutated Istio-API manifests): the default `--api both` would
 * run every case twice. The Gateway API form has its own runs in the fault matrix.
 */
export const ISTIO_API_ONLY: readonly string[] = ['--api', 'istio-api'];

/**
 * How many CLI runs the whole `npm test` lets run at once, across its worker processes.
 * A run is a cluster and its suites (in a CLI process or in the test's own); much of a run
 * is waiting (a failing check waits out its budget, an upgrade waits for pods to roll, an
 * interrupted run for its signal). Measured on the 2-core machine: with three at once the
 * cores stood half idle; once runs no longer started a vitest worker each, five left the
 * run waiting on slots (242 s) and eight kept both cores busy (213 s). Many more would turn
 * the passing checks' budgets into a measure of CPU contention.
 */
export const CLI_SLOTS = 8;

// One folder per `vitest` invocation: its workers are the children of one process.
const SLOTS_DIR = path.join(tmpdir(), `egc-cli-slots-${process.ppid}`);

/** Waits for one of the {@link CLI_SLOTS}; the function returned gives it back. */
export async function acquireCliSlot(): Promise<() => Promise<void>> {
  await mkdir(SLOTS_DIR, { recursive: true });
  for (;;) {
    for (let index = 0; index < CLI_SLOTS; index += 1) {
      const slot = path.join(SLOTS_DIR, `slot-${index}`);
      // mkdir is atomic: whoever creates the folder holds the slot.
      const taken = await mkdir(slot).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'EEXIST') return false;
          throw error;
        },
      );
      if (taken) return () => rm(slot, { recursive: true, force: true });
    }
    await delay(100);
  }
}

/** Runs `task` holding one of the {@link CLI_SLOTS}. */
export async function withCliSlot<T>(task: () => Promise<T>): Promise<T> {
  const release = await acquireCliSlot();
  try {
    return await task();
  } finally {
    await release();
  }
}

/**
 * The suites of a run one after another (`--parallel 1`), unless a test asks otherwise: their
 * lines come in a fixed order, and a run loads the machine as one suite at a time, which is
 * what {@link CLI_SLOTS} counts. The healthy run of the fault matrix keeps the default (all
 * suites at once), so the parallel path stays proven.
 */
export const ONE_WORKER: readonly string[] = ['--parallel', '1'];

/**
 * The flags of a run against a cluster the test serves or started (`--cluster existing`):
 * its kubeconfig, consent to change it, and the external host it answers for.
 */
export function existingClusterArgs(kubeconfig: string, external = 'internet'): string[] {
  return [
    '--cluster',
    'existing',
    '--existing-cluster-ok',
    '--kubeconfig',
    kubeconfig,
    '--external',
    external,
  ];
}

type Run = Awaited<ReturnType<typeof runSimulated>>;

/** The arguments of a simulated run writing to `reports`. */
function simulatedArgs(reports: string, args: readonly string[]): string[] {
  return [
    '--cluster',
    'simulated',
    '--reports',
    reports,
    '--junit',
    path.join(reports, 'junit.xml'),
    ...(args.includes('--parallel') ? [] : ONE_WORKER),
    ...args,
  ];
}

async function readRun(
  reports: string,
  result: { exitCode: number; stdout: string; stderr: string },
): Promise<Run> {
  const xml = await readFile(path.join(reports, 'junit.xml'), 'utf8').catch(() => '');
  return { ...result, reports, xml, cases: parseJUnit(xml) };
}

/**
 * Runs the CLI's `main` in this process against the simulated cluster, in a fresh reports
 * folder (its `.runs/` there too), with `env` for the simulated cluster's settings. The same
 * code as a spawned run from argument parsing to exit code, without a process that loads the
 * Kubernetes client and the harness again (about 1.5 s of CPU each): for proofs about the
 * suites and the mesh (the fault matrix, mutated manifests, profiles). What only a process
 * shows (signals, exit status, stdout and stderr as a user sees them, tools found on PATH)
 * keeps spawned runs ({@link runSimulated}).
 */
export async function runInProcess(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const reports = await mkdtemp(path.join(tmpdir(), 'egc-reports-'));
  const { main } = await import('../../harness/cli.ts');
  let stdout = '';
  let stderr = '';
  const io = {
    out: { write: (text: string) => (stdout += text) },
    err: { write: (text: string) => (stderr += text) },
  };
  const exitCode = await withCliSlot(() =>
    main(simulatedArgs(reports, args), io, { env: { ...process.env, ...env }, cwd: reports }),
  );
  return readRun(reports, { exitCode, stdout, stderr });
}

/** Runs the CLI against the simulated cluster in a fresh reports folder. */
export async function runSimulated(
  args: string[],
  env: Record<string, string> = {},
): Promise<{
  exitCode: number;
  stdout: string;
  stderr: string;
  reports: string;
  xml: string;
  cases: JUnitCase[];
}> {
  const reports = await mkdtemp(path.join(tmpdir(), 'egc-reports-'));
  const result = await withCliSlot(() =>
    execa(process.execPath, [CLI, ...simulatedArgs(reports, args)], {
      reject: false,
      env: { ...process.env, ...env },
      cwd: reports,
      timeout: 240_000,
    }),
  );
  return readRun(reports, {
    exitCode: result.exitCode ?? -1,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
  });
}
