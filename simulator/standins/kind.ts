/**
 * The stand-in `kind` CLI (simulator/bin/kind): the subcommands and flags the
 * kind provider uses, with kind's exit codes and messages, backed by detached simulated
 * API servers instead of Docker containers. Tests put it first on PATH; nothing else does.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { KIND_NODE_IMAGE, KIND_VERSION } from '../../harness/versions.ts';
import {
  CLUSTER_FILES,
  clusterDir,
  isAlive,
  listClusters,
  runningPid,
  stopProcess,
} from './state.ts';

/** Where the stand-ins write: stdout and stderr, injectable for tests. */
export interface StandinIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: StandinIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

const DAEMON = fileURLToPath(new URL('./kind-daemon.ts', import.meta.url));
/** How long `create cluster` waits for the detached API server to come up. */
const START_TIMEOUT_MS = 30_000;

/** Runs one stand-in `kind` invocation and returns its exit code. */
export async function kindMain(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  io: StandinIo = processIo,
): Promise<number> {
  const [command, subject, ...rest] = argv;
  try {
    if (command === 'version') {
      io.out(
        `kind ${KIND_VERSION} go1.24.6 ${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}\n`,
      );
      return 0;
    }
    if (command === 'create' && subject === 'cluster') return await createCluster(rest, env, io);
    if (command === 'get' && subject === 'clusters') return await getClusters(env, io);
    if (command === 'get' && subject === 'kubeconfig') return await getKubeconfig(rest, env, io);
    if (command === 'delete' && subject === 'cluster') return await deleteCluster(rest, env, io);
    io.err(
      `ERROR: unknown command "${[command, subject].filter(Boolean).join(' ')}" for "kind" (this is the egress-conformance stand-in)\n`,
    );
    return 1;
  } catch (error) {
    io.err(`ERROR: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

function flags(args: readonly string[], names: string[]): Record<string, string | undefined> {
  const { values } = parseArgs({
    args: [...args],
    options: Object.fromEntries(
      names.map((name) => [
        name,
        { type: 'string' as const, ...(name === 'name' ? { short: 'n' } : {}) },
      ]),
    ),
    allowPositionals: false,
    strict: true,
  });
  return values;
}

async function createCluster(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  io: StandinIo,
): Promise<number> {
  const options = flags(args, ['name', 'config', 'image', 'kubeconfig', 'wait']);
  let image = options.image;
  let name = options.name;
  if (options.config) {
    const config = YAML.parse(await readFile(options.config, 'utf8')) as {
      kind?: string;
      apiVersion?: string;
      name?: string;
      nodes?: { image?: string }[];
    };
    if (config.kind !== 'Cluster' || config.apiVersion !== 'kind.x-k8s.io/v1alpha4') {
      io.err(
        `ERROR: failed to create cluster: unknown apiVersion/kind: ${config.apiVersion}/${config.kind}\n`,
      );
      return 1;
    }
    name ??= config.name;
    image ??= config.nodes?.[0]?.image;
  }
  name ??= env.KIND_CLUSTER_NAME ?? 'kind';
  image ??= KIND_NODE_IMAGE;
  if (!options.kubeconfig) {
    // Real kind would merge into ~/.kube/config; the stand-in never touches the user's file.
    io.err('ERROR: the egress-conformance stand-in kind needs --kubeconfig\n');
    return 1;
  }
  const directory = clusterDir(env, name);
  if (await runningPid(directory)) {
    io.err(
      `ERROR: failed to create cluster: node(s) already exist for a cluster with the name "${name}"\n`,
    );
    return 1;
  }
  await rm(directory, { recursive: true, force: true });
  await mkdir(directory, { recursive: true });
  const kubernetesVersion = /:(v\d+\.\d+\.\d+)/.exec(image)?.[1] ?? 'v1.36.1';

  io.err(
    `Creating cluster "${name}" ...\n ✓ Ensuring node image (${image.split('@')[0]}) 🖼\n ✓ Preparing nodes 📦\n`,
  );
  const log = openSync(join(directory, CLUSTER_FILES.log), 'a');
  const daemon = spawn(process.execPath, [DAEMON, directory, name, kubernetesVersion], {
    detached: true,
    stdio: ['ignore', log, log],
    env,
  });
  closeSync(log);
  daemon.unref();
  // Written at once (the daemon writes it again): a delete racing this create must find the process.
  if (daemon.pid !== undefined)
    await writeFile(join(directory, CLUSTER_FILES.pid), String(daemon.pid));
  const started = Date.now();
  while (!existsSync(join(directory, CLUSTER_FILES.ready))) {
    if (
      daemon.exitCode !== null ||
      (daemon.pid !== undefined && !isAlive(daemon.pid)) ||
      Date.now() - started > START_TIMEOUT_MS
    ) {
      const tail = (await readFile(join(directory, CLUSTER_FILES.log), 'utf8').catch(() => ''))
        .trim()
        .split('\n')
        .slice(-5)
        .join('\n');
      if (daemon.pid !== undefined && isAlive(daemon.pid)) await stopProcess(daemon.pid);
      await rm(directory, { recursive: true, force: true });
      io.err(
        ` ✗ Starting control-plane 🕹️\nERROR: failed to create cluster: the simulated API server did not start:\n${tail}\n`,
      );
      return 1;
    }
    await delay(25);
  }
  await writeFile(options.kubeconfig, await readFile(join(directory, CLUSTER_FILES.kubeconfig)), {
    mode: 0o600,
  });
  const seconds = Math.max(1, Math.round((Date.now() - started) / 1000));
  io.err(
    [
      ' ✓ Writing configuration 📜',
      ' ✓ Starting control-plane 🕹️',
      ' ✓ Installing CNI 🔌',
      ' ✓ Installing StorageClass 💾',
      ...(options.wait
        ? [
            ` ✓ Waiting ≤ ${options.wait} for control-plane = Ready ⏳`,
            ` • Ready after ${seconds}s 💚`,
          ]
        : []),
      `Set kubectl context to "kind-${name}"`,
      'You can now use your cluster with:',
      '',
      `kubectl cluster-info --context kind-${name} --kubeconfig ${options.kubeconfig}`,
      '',
      'Have a nice day! 👋',
      '',
    ].join('\n'),
  );
  return 0;
}

async function getClusters(env: NodeJS.ProcessEnv, io: StandinIo): Promise<number> {
  const names = await listClusters(env);
  if (names.length === 0) io.err('No kind clusters found.\n');
  for (const name of names) io.out(`${name}\n`);
  return 0;
}

async function getKubeconfig(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  io: StandinIo,
): Promise<number> {
  const name = flags(args, ['name']).name ?? env.KIND_CLUSTER_NAME ?? 'kind';
  const directory = clusterDir(env, name);
  if (!(await runningPid(directory))) {
    io.err(
      `ERROR: could not locate any control plane nodes for cluster named '${name}'. Use the --name option to select a different cluster\n`,
    );
    return 1;
  }
  io.out(await readFile(join(directory, CLUSTER_FILES.kubeconfig), 'utf8'));
  return 0;
}

async function deleteCluster(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  io: StandinIo,
): Promise<number> {
  const options = flags(args, ['name', 'kubeconfig']);
  const name = options.name ?? env.KIND_CLUSTER_NAME ?? 'kind';
  io.err(`Deleting cluster "${name}" ...\n`);
  const directory = clusterDir(env, name);
  const pid = await runningPid(directory);
  if (pid) {
    await stopProcess(pid);
    io.err(`Deleted nodes: ["${name}-control-plane"]\n`);
  }
  await rm(directory, { recursive: true, force: true });
  if (options.kubeconfig) await forgetContext(options.kubeconfig, `kind-${name}`);
  // Like kind, deleting a cluster that does not exist succeeds.
  return 0;
}

/** Removes kind's entries for one cluster from a kubeconfig, as `kind delete cluster` does. */
async function forgetContext(path: string, entry: string): Promise<void> {
  if (!existsSync(path)) return;
  const config = (YAML.parse(await readFile(path, 'utf8')) ?? {}) as Record<string, unknown>;
  for (const key of ['clusters', 'users', 'contexts']) {
    const list = config[key];
    if (Array.isArray(list))
      config[key] = list.filter((item: { name?: string }) => item.name !== entry);
  }
  if (config['current-context'] === entry) config['current-context'] = '';
  await writeFile(path, YAML.stringify(config), { mode: 0o600 });
}
