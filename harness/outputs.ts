/**
 * Every place a run writes (the reports folder, the JUnit file's folder, the run
 * directory) is checked before any cluster work, so an unwritable path is an environment
 * error in seconds rather than a failure after a whole run.
 *
 * Folders are created one level at a time from the nearest existing ancestor: Node's
 * `mkdir(…, { recursive: true })` never returns for some paths under /proc (it retries
 * forever), which is how `--junit /proc/forbidden/junit.xml` once hung a finished run.
 */
import { constants } from 'node:fs';
import { access, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EnvironmentError } from './errors.ts';

/** How long the checks may take in all: a slow or hung filesystem is an error too. */
export const OUTPUT_CHECK_TIMEOUT_MS = 5_000;

/** Creates `dir` and its missing parents without recursive mkdir; throws what went wrong. */
export async function makeDirectory(dir: string): Promise<void> {
  const missing: string[] = [];
  let current = path.resolve(dir);
  for (;;) {
    const info = await stat(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (info) {
      if (!info.isDirectory()) throw new Error(`${current} exists and is not a folder`);
      break;
    }
    missing.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const folder of missing) {
    await mkdir(folder).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
}

/** Proves `dir` can hold a new file: creates it if needed, writes and removes a probe. */
async function provideWritable(dir: string): Promise<void> {
  await makeDirectory(dir);
  await access(dir, constants.W_OK);
  const probe = path.join(dir, `.egress-conformance-probe-${process.pid}`);
  await writeFile(probe, '');
  await rm(probe, { force: true });
}

/** The outputs of one run. */
export interface RunOutputs {
  reportsDir: string;
  junitPath: string;
  runDir: string;
}

/**
 * Checks every output location, in the order a user would fix them; throws an
 * EnvironmentError whose one sentence names the path, the reason and the flag to change.
 */
export async function checkOutputs({ reportsDir, junitPath, runDir }: RunOutputs): Promise<void> {
  const checks: [string, string, string][] = [
    [reportsDir, 'the reports folder', '--reports'],
    [path.dirname(junitPath), `the folder of the JUnit report ${junitPath}`, '--junit'],
    [path.join(reportsDir, 'diagnostics'), 'the diagnostics folder', '--reports'],
    [runDir, 'the run directory', 'the working directory (it holds .runs/)'],
  ];
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer from the filesystem within ${OUTPUT_CHECK_TIMEOUT_MS} ms`)),
      OUTPUT_CHECK_TIMEOUT_MS,
    );
  });
  try {
    for (const [dir, what, flag] of checks) {
      try {
        await Promise.race([provideWritable(dir), expired]);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new EnvironmentError(
          `Cannot write ${what} (${dir}): ${reason}; choose a writable path with ${flag}.`,
        );
      }
    }
  } finally {
    clearTimeout(timer);
  }
}
