/**
 * Real cluster shapes (simulator/profiles.ts, EGRESS_SIM_PROFILE): each profile's expected
 * verdict, from a CLI run against the simulated cluster of that shape, and, for the shapes
 * that arise on clusters the harness does not install, from `--cluster existing` against a
 * simulated cluster of that shape. Each run picks the suites that exercise what the profile
 * changes, to keep the matrix short (docs/simulated-cluster.md lists the profiles).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readSimOptions, startSimulatedCluster } from '../../simulator/cluster.ts';
import { createMeshModel } from '../../simulator/mesh/model.ts';
import type { ProfileName } from '../../simulator/profiles.ts';
import { worldHostsFromEnv } from '../../simulator/standins/kind-world.ts';
import {
  CLI,
  existingClusterArgs,
  parseJUnit,
  runInProcess,
  withCliSlot,
  ONE_WORKER,
  type JUnitCase,
  ISTIO_API_ONLY,
} from './cli.ts';

/** What a run left: exit code, output, JUnit cases and the conformance report. */
interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
  cases: JUnitCase[];
  report: Report | undefined;
}

interface Report {
  result: string;
  implementation: {
    clusterKind: string;
    istio: { revision: string | null; gateway: string | null };
    kubernetesVersion: string | null;
  };
}

async function readReport(reports: string): Promise<Report | undefined> {
  const text = await readFile(path.join(reports, 'conformance.yaml'), 'utf8').catch(() => '');
  return text ? (parse(text) as Report) : undefined;
}

async function simulated(profile: ProfileName, args: string[]): Promise<Run> {
  const run = await runInProcess(args, { EGRESS_SIM_PROFILE: profile });
  return { ...run, report: await readReport(run.reports) };
}

// A simulated cluster answers at once; the real-cluster defaults would only slow a failure down.
const FAST = ['configPropagation=8000', 'policyEnforcement=8000', 'accessLogFlush=60']
  .concat(['pollInterval=50', 'podReady=20000', 'deletion=20000'])
  .flatMap((setting) => ['--timeout', setting]);

/**
 * `--cluster existing` against a simulated cluster of the profile's shape, served from this
 * process: the shape as a platform team's cluster has it, found by detection alone.
 */
function existing(profile: ProfileName, args: string[]): Promise<Run> {
  // The cluster this process serves works as hard as the CLI: both count as one CLI run.
  return withCliSlot(() => existingRun(profile, args));
}

async function existingRun(profile: ProfileName, args: string[]): Promise<Run> {
  const dir = await mkdtemp(path.join(tmpdir(), `egc-profile-${profile}-`));
  const hosts = worldHostsFromEnv({});
  const options = { ...readSimOptions({ EGRESS_SIM_PROFILE: profile }), externalHosts: hosts };
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
  try {
    const reports = path.join(dir, 'reports');
    const result = await execa(
      process.execPath,
      [
        CLI,
        ...existingClusterArgs(cluster.kubeconfigPath),
        '--reports',
        reports,
        '--junit',
        path.join(reports, 'junit.xml'),
        ...FAST,
        ...ONE_WORKER,
        ...args,
      ],
      // The shape is the cluster's: the CLI itself gets no EGRESS_SIM_* setting.
      { reject: false, cwd: dir, timeout: 120_000, env: { EGRESS_SIM_PROFILE: '' } },
    );
    const xml = await readFile(path.join(reports, 'junit.xml'), 'utf8').catch(() => '');
    return {
      exitCode: result.exitCode ?? -1,
      stdout: String(result.stdout),
      stderr: String(result.stderr),
      cases: parseJUnit(xml),
      report: await readReport(reports),
    };
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function passed(run: Run): void {
  const output = `${run.stdout}\n${run.stderr}`;
  expect(run.exitCode, output).toBe(0);
  expect(run.cases.length, output).toBeGreaterThan(0);
  expect(run.cases.filter((c) => c.failure !== undefined).map((c) => c.name)).toEqual([]);
}

const NETWORK_POLICY = ['--suite', 'network-policy', ...ISTIO_API_ONLY];
const HTTP_PLAIN = ['--suite', 'http-gateway', '--mtls', 'disabled', ...ISTIO_API_ONLY];

// Each case waits for a free CLI slot (see cli.ts) before its runs start.
describe('cluster profiles: the verdict each real shape gets', { timeout: 900_000 }, () => {
  it.concurrent(
    'classic-sidecars (Kubernetes 1.32: istio-proxy in spec.containers): passes http-gateway and network-policy',
    async () => {
      const run = await simulated('classic-sidecars', [
        '--suite',
        'http-gateway,network-policy',
        '--mtls',
        'disabled',
      ]);
      passed(run);
      expect(run.report?.implementation.kubernetesVersion).toBe('v1.32.2');
      expect(new Set(run.cases.map((c) => c.suite))).toEqual(
        new Set(['http-gateway', 'network-policy']),
      );
    },
  );

  it.concurrent(
    'revisioned (istiod-canary, no default tag), an existing cluster: passes network-policy with --istio-revision canary',
    async () => {
      const run = await existing('revisioned', ['--istio-revision', 'canary', ...NETWORK_POLICY]);
      passed(run);
      expect(run.report?.implementation).toMatchObject({
        clusterKind: 'existing',
        istio: { revision: 'canary' },
      });
      expect(run.stdout).toMatch(/Istio 1\.31\.1 revision canary/);
    },
  );

  it.concurrent(
    'gateway-namespace (gateway in istio-egress, istiod in istio-system), an existing cluster: passes network-policy',
    async () => {
      const run = await existing('gateway-namespace', NETWORK_POLICY);
      passed(run);
      expect(run.report?.implementation.istio.gateway).toBe('istio-egress/istio-egressgateway');
    },
  );

  it.concurrent.each([
    ['simulated', simulated],
    ['existing', existing],
  ] as const)(
    'custom-log-format (%s): exit 2 before any suite, naming meshConfig.accessLogFormat and the fix',
    async (_cluster, run) => {
      const result = await run('custom-log-format', HTTP_PLAIN);
      expect(result.exitCode, result.stdout).toBe(2);
      expect(result.stderr).toMatch(
        /Envoy's own default TEXT format, which lacks the upstream cluster and SNI from meshConfig\.accessLogFormat \(ConfigMap istio-system\/istio\)/,
      );
      expect(result.stderr).toMatch(/remove meshConfig\.accessLogFormat for the run/);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(result.cases).toEqual([]);
    },
  );

  it.concurrent(
    'telemetry-logging (access logs from a Telemetry resource, no accessLogFile): passes http-gateway',
    async () => {
      passed(await simulated('telemetry-logging', HTTP_PLAIN));
    },
  );

  it.concurrent('json-logs (accessLogEncoding JSON): passes http-gateway', async () => {
    passed(await simulated('json-logs', HTTP_PLAIN));
  });

  it.concurrent(
    "no-outbound-stats: B4.6 reads Istio's metric instead of the hidden Envoy counter, and the run passes",
    async () => {
      const run = await simulated('no-outbound-stats', NETWORK_POLICY);
      passed(run);
      const counter = run.cases.find((c) => c.name.startsWith('B4.6'));
      expect(counter?.properties['evidence.source']).toMatch(
        /^Istio metric istio_tcp_connections_opened_total\{reporter="source"/,
      );
    },
  );
});
