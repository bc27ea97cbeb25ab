/**
 * For the simulator's own tests: a simulated cluster with Istio installed and no mesh behind
 * exec (every command answers exit 0), in a fresh folder, for tests of what reads and writes
 * the API alone (the stand-ins' commands and their client).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSimOptions, startSimulatedCluster, type SimulatedCluster } from './cluster.ts';

export async function startApiOnlyCluster(
  prefix: string,
  istioVersion: string,
): Promise<{ dir: string; cluster: SimulatedCluster }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const cluster = await startSimulatedCluster({
    options: readSimOptions({}),
    dir,
    createExecHandler: () => ({
      exec: () => Promise.resolve({ stdout: '', stderr: '', exitCode: 0 }),
    }),
    istio: {
      version: istioVersion,
      accessLogEncoding: 'TEXT',
      outboundStatsIncluded: true,
      install: true,
    },
  });
  return { dir, cluster };
}
