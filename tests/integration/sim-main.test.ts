// `npm run sim`: the simulated cluster as a process a person (or the real kubectl, or the
// CLI in existing-cluster mode) can use; its kubeconfig exists exactly while it serves.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simMain } from '../../simulator/sim-main.ts';
import { CLI, existingClusterArgs, parseJUnit, withCliSlot } from '../e2e/cli.ts';

const hasKubectl = spawnSync('kubectl', ['version', '--client']).status === 0;

let dir: string;
let kubeconfig: string;
let stop: (signal: string) => void;
let finished: Promise<number>;
const lines: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egc-sim-main-'));
  kubeconfig = path.join(dir, 'kubeconfig');
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  finished = simMain(['--kubeconfig', kubeconfig], {
    env: { EGRESS_SIM_POD_START_MS: '0' },
    out: (line) => lines.push(line),
    stopped,
  });
  const deadline = Date.now() + 30_000;
  while (!existsSync(kubeconfig)) {
    if (Date.now() > deadline) throw new Error(`no kubeconfig after 30 s: ${lines.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});

afterAll(async () => {
  stop?.('SIGTERM');
  await finished;
  await rm(dir, { recursive: true, force: true });
});

describe('npm run sim', () => {
  it('prints how to use it once the kubeconfig is written', () => {
    expect(lines.join('\n')).toMatch(/Simulated cluster ready at https:\/\/127\.0\.0\.1:\d+/);
    expect(lines.join('\n')).toContain(`--kubeconfig ${kubeconfig} --external internet`);
  });

  it.skipIf(!hasKubectl)(
    'serves the real kubectl (skipped where kubectl is not installed)',
    async () => {
      const result = await execa(
        'kubectl',
        ['--kubeconfig', kubeconfig, 'get', 'namespaces', '-o', 'name'],
        {
          reject: false,
        },
      );
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain('namespace/istio-system');
    },
  );

  // One suite in both APIs: that the served cluster carries a whole existing-cluster run is
  // the point here; every suite's own behaviour is proven by the conformance matrix.
  it('passes a conformance run in existing-cluster mode with the internet host', async () => {
    const reports = await mkdtemp(path.join(tmpdir(), 'egc-sim-main-reports-'));
    const result = await withCliSlot(() =>
      execa(
        process.execPath,
        [
          CLI,
          ...existingClusterArgs(kubeconfig),
          '--suite',
          'http-gateway',
          '--reports',
          reports,
          '--junit',
          path.join(reports, 'junit.xml'),
          // The simulated cluster answers at once; real-cluster budgets would only slow a failure.
          '--timeout',
          'configPropagation=10000',
          '--timeout',
          'policyEnforcement=10000',
          '--timeout',
          'pollInterval=50',
          '--timeout',
          'accessLogFlush=300',
        ],
        { reject: false, cwd: reports, timeout: 180_000 },
      ),
    );
    const { readFile } = await import('node:fs/promises');
    const cases = parseJUnit(
      await readFile(path.join(reports, 'junit.xml'), 'utf8').catch(() => ''),
    );
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(cases.filter((c) => c.failure !== undefined)).toEqual([]);
    // Both mTLS variants in both APIs: the served cluster has the Gateway API CRDs.
    const ran = cases.filter((c) => c.skipped === undefined && c.properties.api);
    const apis = ran.map((c) => c.properties.api);
    expect(apis).toContain('istio-api');
    expect(apis).toContain('gateway-api');
    expect(ran.length).toBeGreaterThan(15);
    await rm(reports, { recursive: true, force: true });
  }, 200_000);

  it('removes the kubeconfig when stopped', async () => {
    stop('SIGTERM');
    expect(await finished).toBe(0);
    expect(existsSync(kubeconfig)).toBe(false);
  });
});
