/**
 * A simulated cluster served from the test process, for `--cluster existing` runs: what the
 * runs leave on it (namespaces, labels of shared namespaces) can be read after they end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readSimOptions, startSimulatedCluster } from '../../simulator/cluster.ts';
import { createMeshModel } from '../../simulator/mesh/model.ts';
import { worldHostsFromEnv } from '../../simulator/standins/kind-world.ts';
import { connect, type Kube } from '../../harness/k8s/client.ts';
import { RUN_LABEL } from '../../harness/run-labels.ts';
import { CLI, ONE_WORKER, existingClusterArgs } from './cli.ts';

/** The namespaces whose labels runs borrow. */
export const SHARED_NAMESPACES = ['istio-system', 'kube-system'] as const;

/** A served cluster and how to reach it. */
export interface ServedCluster {
  kubeconfigPath: string;
  kube: Kube;
  dir: string;
  stop(): Promise<void>;
}

/**
 * Starts a simulated cluster with Istio installed, as a platform team's cluster would have it;
 * `env`: its EGRESS_SIM_* settings (e.g. a fault).
 */
export async function serveCluster(env: Record<string, string> = {}): Promise<ServedCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'egc-served-'));
  const hosts = worldHostsFromEnv(env);
  const options = { ...readSimOptions(env), externalHosts: hosts };
  const cluster = await startSimulatedCluster({
    options,
    externalHosts: hosts,
    dir,
    createExecHandler: ({ view, logs }) => createMeshModel({ view, logs, options }),
    istio: {
      version: '1.31.1',
      accessLogEncoding: 'TEXT',
      outboundStatsIncluded: true,
      install: true,
    },
  });
  return {
    kubeconfigPath: cluster.kubeconfigPath,
    kube: connect({ kubeconfigPath: cluster.kubeconfigPath }),
    dir,
    async stop() {
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The labels and annotations of the shared namespaces, to compare before and after runs. */
export async function sharedMetadata(
  kube: Kube,
): Promise<
  Record<string, { labels: Record<string, string>; annotations: Record<string, string> }>
> {
  const result: Record<
    string,
    { labels: Record<string, string>; annotations: Record<string, string> }
  > = {};
  for (const name of SHARED_NAMESPACES) {
    const namespace = await kube.core.readNamespace({ name });
    result[name] = {
      labels: namespace.metadata?.labels ?? {},
      annotations: namespace.metadata?.annotations ?? {},
    };
  }
  return result;
}

/** Namespaces carrying a run label (of `runId`, or of any run). */
export async function runNamespaces(kube: Kube, runId?: string): Promise<string[]> {
  const list = await kube.core.listNamespace({
    labelSelector: runId ? `${RUN_LABEL}=${runId}` : RUN_LABEL,
  });
  return list.items.map((item) => item.metadata?.name ?? '');
}

// A simulated cluster answers at once; the real-cluster defaults would only slow a failure down.
const FAST = ['configPropagation=8000', 'policyEnforcement=8000', 'accessLogFlush=60']
  .concat(['pollInterval=50', 'podReady=20000', 'deletion=20000'])
  .flatMap((setting) => ['--timeout', setting]);

/** The argv of a `--cluster existing` run against `cluster` (node, the CLI, the flags). */
export function existingRunArgs(
  cluster: ServedCluster,
  reports: string,
  args: readonly string[],
): string[] {
  return [
    CLI,
    ...existingClusterArgs(cluster.kubeconfigPath),
    '--reports',
    reports,
    ...FAST,
    ...ONE_WORKER,
    ...args,
  ];
}
