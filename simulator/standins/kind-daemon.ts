/**
 * The detached process behind one stand-in kind cluster: it runs the simulated API
 * server (with the mesh model behind exec) until SIGTERM, the way kind's node container
 * keeps running after `kind create cluster` returns.
 *
 *   node kind-daemon.ts <cluster-dir> <cluster-name> <kubernetes-version>
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startSimulatedCluster, readSimOptions } from '../cluster.ts';
import { createMeshModel } from '../mesh/model.ts';
import { KIND_COREFILE, asKindKubeconfig, worldHostsFromEnv } from './kind-world.ts';
import { CLUSTER_FILES } from './state.ts';

async function main(): Promise<void> {
  const [directory, name, kubernetesVersion] = process.argv.slice(2);
  if (!directory || !name || !kubernetesVersion) {
    throw new Error('usage: kind-daemon.ts <cluster-dir> <cluster-name> <kubernetes-version>');
  }
  const options = readSimOptions(process.env);
  const externalHosts = worldHostsFromEnv(process.env);
  const cluster = await startSimulatedCluster({
    options,
    externalHosts,
    dir: directory,
    kubernetesVersion,
    createExecHandler: ({ view, logs }) =>
      createMeshModel({ view, logs, options: { ...options, externalHosts } }),
  });
  cluster.store.create({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'coredns', namespace: 'kube-system' },
    data: { Corefile: KIND_COREFILE },
  });
  await cluster.store.idle();
  const kubeconfigPath = join(directory, CLUSTER_FILES.kubeconfig);
  await writeFile(kubeconfigPath, asKindKubeconfig(await readFile(kubeconfigPath, 'utf8'), name), {
    mode: 0o600,
  });
  await writeFile(join(directory, CLUSTER_FILES.pid), String(process.pid));
  await writeFile(join(directory, CLUSTER_FILES.ready), cluster.server);

  const shutdown = async (): Promise<void> => {
    await cluster.stop();
    await rm(join(directory, CLUSTER_FILES.pid), { force: true });
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown());
  process.once('SIGINT', () => void shutdown());
}

try {
  await main();
} catch (error) {
  // The create that started this process reports the log's last lines; then nothing may linger.
  console.error(error);
  process.exit(1);
}
