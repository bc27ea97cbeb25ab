/**
 * `npm run bench`: wall time of full simulated runs (all suites, both mTLS modes) under
 * the configurations issue 4 names, in Istio's API (`--api istio-api`, comparable with the
 * figures measured before the Gateway API variant existed), and the default `--api both` next
 * to its `istio-api` twin in the same benchmark run (issue 11: at most 1.6x),
 * and an upgrade run of all suites (issue 12: at most 2.5x the plain run). A script that
 * prints figures, not a timed test: timings on a shared 2-core machine vary too much to assert on.
 */
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ISTIO_DEFAULT_VERSION, ISTIO_SUPPORTED_VERSIONS } from './versions.ts';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));

interface Case {
  name: string;
  env: Record<string, string>;
  args: string[];
}

const CASES: Case[] = [
  { name: 'propagation 0 ms, pod start 0 ms', env: {}, args: [] },
  { name: 'the same, --api both', env: {}, args: ['--api', 'both'] },
  {
    name: 'propagation 2000 ms (jitter 0)',
    env: { EGRESS_SIM_PROPAGATION_MS: '2000', EGRESS_SIM_PROPAGATION_JITTER_MS: '0' },
    args: [],
  },
  {
    name: 'pod start 3000 ms, sequential',
    env: { EGRESS_SIM_POD_START_MS: '3000' },
    args: ['--parallel', '1'],
  },
  { name: 'pod start 3000 ms, concurrent', env: { EGRESS_SIM_POD_START_MS: '3000' }, args: [] },
  // Every suite before and after an in-place upgrade from the oldest supported version, with
  // the disruption probes running in between (the default 200 ms interval).
  {
    name: 'upgrade n-2 -> n, in place',
    env: {},
    args: ['--upgrade-from', ISTIO_SUPPORTED_VERSIONS.at(-1) ?? ISTIO_DEFAULT_VERSION],
  },
];

async function timeRun(entry: Case): Promise<{ seconds: number; exitCode: number }> {
  const reports = await mkdtemp(path.join(tmpdir(), 'egc-bench-'));
  const started = performance.now();
  const result = await execa(
    process.execPath,
    [
      CLI,
      '--cluster',
      'simulated',
      '--mtls',
      'both',
      '--reports',
      reports,
      '--junit',
      path.join(reports, 'junit.xml'),
      // Istio's API unless the case says otherwise (a later --api wins).
      '--api',
      'istio-api',
      ...entry.args,
    ],
    { reject: false, cwd: reports, env: { ...process.env, ...entry.env } },
  );
  const seconds = (performance.now() - started) / 1000;
  await rm(reports, { recursive: true, force: true });
  return { seconds, exitCode: result.exitCode ?? -1 };
}

const results: { name: string; seconds: number; exitCode: number }[] = [];
for (const entry of CASES) {
  const { seconds, exitCode } = await timeRun(entry);
  results.push({ name: entry.name, seconds, exitCode });
  console.log(`${entry.name.padEnd(36)} ${seconds.toFixed(1).padStart(6)} s  (exit ${exitCode})`);
}
const [zero, bothApis, propagation, sequential, concurrent, upgrade] = results;
if (zero && bothApis && propagation && sequential && concurrent && upgrade) {
  console.log('');
  console.log(
    `--api both / --api istio-api: ${(bothApis.seconds / zero.seconds).toFixed(2)} (target <= 1.6)`,
  );
  console.log(`propagation cost over 0 ms: ${(propagation.seconds - zero.seconds).toFixed(1)} s`);
  console.log(
    `concurrent / sequential with pod start 3000 ms: ${(concurrent.seconds / sequential.seconds).toFixed(2)}`,
  );
  console.log(
    `upgrade run / plain run: ${(upgrade.seconds / zero.seconds).toFixed(2)} (target <= 2.5)`,
  );
}
process.exitCode = results.every((entry) => entry.exitCode === 0) ? 0 : 1;
