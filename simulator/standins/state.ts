/**
 * Where the stand-in `kind` keeps its clusters between invocations: one directory per
 * cluster name under `EGRESS_SIM_STATE_DIR` holding the detached API server's pid, its
 * kubeconfig and its log, the way real kind keeps its nodes in Docker.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** The stand-in's state root: `EGRESS_SIM_STATE_DIR`, else a folder in the OS temp dir. */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.EGRESS_SIM_STATE_DIR || join(tmpdir(), 'egress-conformance-sim');
}

/** The directory of one cluster. */
export function clusterDir(env: NodeJS.ProcessEnv, name: string): string {
  return join(stateDir(env), 'kind', name);
}

/** Files of a cluster directory. */
export const CLUSTER_FILES = Object.freeze({
  pid: 'pid',
  kubeconfig: 'kubeconfig',
  ready: 'ready',
  log: 'daemon.log',
});

/** True while the process exists (signal 0 only checks). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of a cluster's API server process, if it runs. */
export async function runningPid(directory: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(join(directory, CLUSTER_FILES.pid), 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Names of clusters whose API server runs; directories of dead ones are removed. */
export async function listClusters(env: NodeJS.ProcessEnv): Promise<string[]> {
  const root = join(stateDir(env), 'kind');
  if (!existsSync(root)) return [];
  const names: string[] = [];
  for (const name of (await readdir(root)).sort()) {
    const directory = join(root, name);
    if (await runningPid(directory)) names.push(name);
    else await rm(directory, { recursive: true, force: true });
  }
  return names;
}

/** Sends SIGTERM, waits up to `timeoutMs` for the process to end, then SIGKILLs it. */
export async function stopProcess(pid: number, timeoutMs = 10_000): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      await delay(50);
      return;
    }
    await delay(25);
  }
}
