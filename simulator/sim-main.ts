/**
 * `npm run sim -- --kubeconfig PATH`: the simulated cluster as a long-running process, for
 * trying the tool or kubectl against it by hand. It starts the API server with Istio and
 * the egress gateway installed and the documentation's internet host modelled, writes the
 * kubeconfig to PATH only once it serves, and runs until SIGINT or SIGTERM, when it stops
 * and removes the kubeconfig. EGRESS_SIM_FAULTS and the other EGRESS_SIM_* variables
 * configure it as they configure `--cluster simulated`.
 */
import { mkdtemp, rename, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import versions from '../versions.json' with { type: 'json' };
import { readSimOptions, startSimulatedCluster } from './cluster.ts';
import { createMeshModel } from './mesh/model.ts';
import { worldHostsFromEnv } from './standins/kind-world.ts';

const USAGE = `Usage: npm run sim -- --kubeconfig PATH [--istio-version V]

Starts the simulated cluster (Kubernetes API on 127.0.0.1, Istio ${versions.istio.default} with an
egress gateway, the internet host edition.cnn.com modelled) and writes its kubeconfig to PATH
once it serves. Runs until Ctrl-C (SIGINT) or SIGTERM. EGRESS_SIM_FAULTS=<fault,...> breaks
the mesh in a named way (docs/simulated-cluster.md). It is a model, not a mesh: it certifies
nothing.`;

/** Runs the simulated cluster until `stopped` resolves; returns the exit code. */
export async function simMain(
  argv: readonly string[],
  {
    env = process.env,
    out = (line: string) => process.stdout.write(`${line}\n`),
    stopped = signalled(),
  }: {
    env?: NodeJS.ProcessEnv;
    out?: (line: string) => void;
    stopped?: Promise<string>;
  } = {},
): Promise<number> {
  let values: { kubeconfig?: string; 'istio-version'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        kubeconfig: { type: 'string' },
        'istio-version': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    out(USAGE);
    return 0;
  }
  if (!values.kubeconfig) {
    process.stderr.write(`--kubeconfig PATH is required: where to write the kubeconfig.\n`);
    return 2;
  }
  const target = path.resolve(values.kubeconfig);
  let options;
  try {
    options = readSimOptions(env);
  } catch (error) {
    process.stderr.write(`Bad simulated-cluster setting: ${String(error)}\n`);
    return 2;
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'egress-sim-'));
  const hosts = worldHostsFromEnv(env);
  const cluster = await startSimulatedCluster({
    options: { ...options, externalHosts: hosts },
    externalHosts: hosts,
    dir,
    createExecHandler: ({ view, logs }) =>
      createMeshModel({ view, logs, options: { ...options, externalHosts: hosts } }),
    istio: {
      version: values['istio-version'] ?? versions.istio.default,
      accessLogEncoding: 'TEXT',
      outboundStatsIncluded: true,
      install: true,
    },
  });
  try {
    // Written beside the target and renamed, so a reader never sees half a kubeconfig.
    const staged = `${target}.${process.pid}.tmp`;
    await writeFile(staged, await readFile(cluster.kubeconfigPath), { mode: 0o600 });
    await rename(staged, target);
    out(`Simulated cluster ready at ${cluster.server} (SIMULATED: a model, not a mesh).`);
    out(`  export KUBECONFIG=${target}`);
    out(`  kubectl get pods -A`);
    out(
      `  npm run conformance -- --cluster existing --existing-cluster-ok --kubeconfig ${target} --external internet`,
    );
    out(`Stop with Ctrl-C.`);
    const signal = await stopped;
    out(`${signal}: stopping the simulated cluster.`);
    return 0;
  } finally {
    await cluster.stop();
    await rm(target, { force: true });
    await rm(dir, { recursive: true, force: true });
  }
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(signal, () => resolve(signal));
  });
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  process.exitCode = await simMain(process.argv.slice(2));
}
