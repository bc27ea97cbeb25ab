/**
 * The default `npm run conformance` path (kind), end to end through the CLI, with the
 * stand-in `docker`, `kind` and `istioctl` first on PATH: create, install, run,
 * delete; keep and reuse; cleanup after a failing suite and after Ctrl-C; and the
 * environment errors a user sees first.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { parse } from 'yaml';
import {
  CLI,
  existingClusterArgs,
  FAILING_RUN_TIMEOUTS,
  PATIENT_POLLING,
  acquireCliSlot,
  parseJUnit,
  withCliSlot,
} from './cli.ts';
import { cachedInstallFile } from '../../harness/gateway-api-install.ts';
import { connect } from '../../harness/k8s/client.ts';
import { GATEWAY_API_VERSION } from '../../harness/versions.ts';
import { standardInstallYaml } from '../../simulator/gateway-api-crds.ts';

const STANDIN_BIN = fileURLToPath(new URL('../../simulator/bin', import.meta.url));
const NODE_BIN = path.dirname(process.execPath);

// Stand-in clusters answer at once; the real-cluster defaults (minutes) would only slow failures down.
const FAST = [
  '--timeout',
  'configPropagation=8000',
  '--timeout',
  'policyEnforcement=8000',
  '--timeout',
  'accessLogFlush=200',
  '--timeout',
  'podReady=20000',
  '--timeout',
  'deletion=20000',
  ...PATIENT_POLLING,
];

let work: string;
const stateDirs = new Set<string>();

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'egc-kindpath-'));
  // The Gateway API release, as a run that downloaded it left it in the cache (the download
  // itself is tested against a local server in tests/integration/gateway-api-install.test.ts).
  const release = cachedInstallFile(
    path.join(work, 'cache', 'egress-conformance'),
    GATEWAY_API_VERSION,
  );
  await mkdir(path.dirname(release), { recursive: true });
  await writeFile(release, standardInstallYaml(GATEWAY_API_VERSION));
});

afterAll(async () => {
  for (const state of stateDirs) {
    const tools = { EGRESS_SIM_STATE_DIR: state, PATH: standinsPath() };
    for (const name of await clusters(tools)) {
      await execa('kind', ['delete', 'cluster', '--name', name], {
        env: { ...process.env, ...tools },
        reject: false,
      });
    }
  }
  await rm(work, { recursive: true, force: true });
});

function standinsPath(): string {
  return `${STANDIN_BIN}:${NODE_BIN}:${process.env.PATH ?? ''}`;
}

/**
 * The stand-ins' environment, with a state folder of the case's own: the cases run at
 * once, and `kind get clusters` removes what it finds half-created in its folder.
 */
function standins(name: string, settings: Record<string, string> = {}): Record<string, string> {
  const state = path.join(work, 'state', name);
  stateDirs.add(state);
  return {
    PATH: standinsPath(),
    EGRESS_SIM_STATE_DIR: state,
    EGRESS_SIM_WORLD_HOSTS: 'edition.cnn.com',
    XDG_CACHE_HOME: path.join(work, 'cache'),
    HOME: work,
    ...settings,
  };
}

async function clusters(tools: Record<string, string>): Promise<string[]> {
  const result = await execa('kind', ['get', 'clusters'], {
    env: { ...process.env, ...tools },
    reject: false,
  });
  return String(result.stdout)
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('No kind clusters'));
}

async function conformance(
  tools: Record<string, string>,
  args: string[],
  extraEnv: Record<string, string> = {},
) {
  const reports = await mkdtemp(path.join(work, 'reports-'));
  const release = await acquireCliSlot();
  const child = execa(
    process.execPath,
    [CLI, '--reports', reports, '--junit', path.join(reports, 'junit.xml'), ...args],
    { reject: false, cwd: work, env: { ...process.env, ...tools, ...extraEnv }, timeout: 240_000 },
  );
  void child.finally(release);
  return { child, reports };
}

// Each case waits for a free CLI slot (see cli.ts) before its runs start.
describe('the kind path with stand-in executables', { timeout: 900_000 }, () => {
  it.concurrent(
    'creates the cluster, installs Istio, runs the suite and deletes the cluster',
    async () => {
      const tools = standins('egc-e2e-default');
      const { child, reports } = await conformance(tools, [
        '--cluster-name',
        'egc-e2e-default',
        '--external',
        'internet',
        '--suite',
        'http-gateway',
        '--mtls',
        'disabled',
        ...FAST,
      ]);
      const result = await child;
      expect(result.exitCode, `${String(result.stdout)}\n${String(result.stderr)}`).toBe(0);
      const cases = parseJUnit(await readFile(path.join(reports, 'junit.xml'), 'utf8'));
      expect(cases.length).toBeGreaterThan(0);
      expect(cases.every((c) => c.properties['cluster.kind'] === 'kind')).toBe(true);
      // The Gateway API CRDs were applied before Istio, so the gateway-api variant ran too.
      const report = parse(await readFile(path.join(reports, 'conformance.yaml'), 'utf8')) as {
        run: { steps: { name: string; result: string }[] };
        mode: { api: string[]; skippedApis: unknown[] };
      };
      const steps = report.run.steps.map((step) => `${step.name}: ${step.result}`);
      expect(steps.indexOf('gateway api crds: done')).toBeGreaterThan(-1);
      expect(steps.indexOf('gateway api crds: done')).toBeLessThan(steps.indexOf('istio: done'));
      expect(report.mode).toMatchObject({ api: ['istio-api', 'gateway-api'], skippedApis: [] });
      const gatewayApiCases = cases.filter((c) => c.properties.api === 'gateway-api');
      expect(gatewayApiCases.length).toBeGreaterThan(3);
      expect(gatewayApiCases.filter((c) => c.skipped !== undefined || c.failure)).toEqual([]);
      expect(await clusters(tools)).not.toContain('egc-e2e-default');
    },
  );

  it.concurrent('deletes the cluster after a failing suite too', async () => {
    const tools = standins('egc-e2e-failing');
    const { child } = await conformance(
      tools,
      [
        '--cluster-name',
        'egc-e2e-failing',
        '--external',
        'internet',
        '--suite',
        'http-gateway',
        '--mtls',
        'disabled',
        // One variant is enough to fail: each failing check waits out its budget.
        '--api',
        'istio-api',
        ...FAST,
        ...FAILING_RUN_TIMEOUTS,
      ],
      { EGRESS_SIM_FAULTS: 'gateway-bypass' },
    );
    const result = await child;
    expect(result.exitCode).toBe(1);
    expect(await clusters(tools)).not.toContain('egc-e2e-failing');
  });

  it.concurrent(
    'on Ctrl-C mid-run cleans up everything the run created and exits 130',
    async () => {
      const tools = standins('egc-e2e-sigint');
      const { child } = await conformance(
        tools,
        [
          '--cluster-name',
          'egc-e2e-sigint',
          '--external',
          'internet',
          '--suite',
          'network-policy',
          ...FAST,
        ],
        { EGRESS_SIM_POD_START_MS: '3000' },
      );
      let output = '';
      let sent = false;
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        // Interrupt once the suites are running, i.e. after the cluster and Istio exist.
        if (!sent && /\] cluster: done/.test(output)) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      const result = await child;
      expect(result.exitCode, output).toBe(130);
      expect(await clusters(tools), `${output}\n${String(result.stderr)}`).not.toContain(
        'egc-e2e-sigint',
      );
    },
  );

  it.concurrent(
    '--keep-cluster keeps it, and --reuse-cluster uses it without installing or deleting it',
    async () => {
      const tools = standins('egc-e2e-keep');
      const first = await (
        await conformance(tools, [
          '--cluster-name',
          'egc-e2e-keep',
          '--keep-cluster',
          '--external',
          'internet',
          '--suite',
          'dr-lookup',
          ...FAST,
        ])
      ).child;
      expect(first.exitCode, String(first.stdout)).toBe(0);
      expect(await clusters(tools)).toContain('egc-e2e-keep');
      const second = await (
        await conformance(tools, [
          '--cluster-name',
          'egc-e2e-keep',
          '--reuse-cluster',
          '--external',
          'internet',
          '--suite',
          'dr-lookup',
          ...FAST,
        ])
      ).child;
      expect(second.exitCode, String(second.stdout)).toBe(0);
      // A reused cluster was not created by this run, so this run leaves it.
      expect(await clusters(tools)).toContain('egc-e2e-keep');
    },
  );
});

describe('an existing cluster (the acceptance gate)', { timeout: 900_000 }, () => {
  it('runs against a cluster it did not create and leaves it exactly as it found it', async () => {
    const kubeconfig = path.join(work, 'existing-kubeconfig');
    const overlay = path.join(work, 'existing-overlay.yaml');
    const world = standins('egc-e2e-existing', { EGRESS_SIM_WORLD_HOSTS: 'approved.example.com' });
    const tools = { env: { ...process.env, ...world } };
    await execa(
      'kind',
      ['create', 'cluster', '--name', 'egc-e2e-existing', '--kubeconfig', kubeconfig],
      tools,
    );
    await writeFile(
      overlay,
      'apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  meshConfig:\n    accessLogFile: /dev/stdout\n  components:\n    egressGateways:\n      - name: istio-egressgateway\n        enabled: true\n',
    );
    await execa('istioctl', ['install', '-y', '-f', overlay, '--kubeconfig', kubeconfig], tools);
    const snapshot = async () =>
      (await connect({ kubeconfigPath: kubeconfig }).core.listNamespace()).items
        .map((item) => ({
          name: item.metadata?.name,
          labels: item.metadata?.labels ?? {},
          annotations: item.metadata?.annotations ?? {},
        }))
        .sort((x, y) => String(x.name).localeCompare(String(y.name)));
    const before = await snapshot();

    const { child, reports } = await conformance(
      world,
      [
        ...existingClusterArgs(kubeconfig, 'host:approved.example.com'),
        '--suite',
        'network-policy,dr-lookup',
        ...FAST,
      ],
      { EGRESS_SIM_WORLD_HOSTS: 'approved.example.com' },
    );
    const result = await child;
    expect(result.exitCode, `${String(result.stdout)}\n${String(result.stderr)}`).toBe(0);
    expect(await snapshot()).toEqual(before);
    await execa('kind', ['delete', 'cluster', '--name', 'egc-e2e-existing'], tools);

    // Nobody installed the Gateway API CRDs there: its variant is skipped, and every report says why.
    const why =
      /^the cluster does not serve Gateway \(gateway\.networking\.k8s\.io\/v1\), HTTPRoute .*: install the Gateway API CRDs \(kubectl apply --server-side -f https:\/\/github\.com\/kubernetes-sigs\/gateway-api\/releases\/download\/v[\d.]+\/standard-install\.yaml\)$/;
    const cases = parseJUnit(await readFile(path.join(reports, 'junit.xml'), 'utf8'));
    const gatewayApi = cases.filter((c) => c.properties.api === 'gateway-api');
    expect(gatewayApi.map((c) => c.suite).sort()).toContain('network-policy');
    for (const testCase of gatewayApi) {
      expect(testCase.skipped?.replace(/^skipped in mtls disabled, gateway-api: /, '')).toMatch(
        why,
      );
    }
    for (const file of ['conformance.yaml', 'conformance.json']) {
      const report = parse(await readFile(path.join(reports, file), 'utf8')) as {
        mode: { api: string[]; skippedApis: { api: string; reason: string }[] };
      };
      expect(report.mode.api, file).toEqual(['istio-api']);
      expect(
        report.mode.skippedApis.map((entry) => entry.api),
        file,
      ).toEqual(['gateway-api']);
      expect(report.mode.skippedApis[0]?.reason, file).toMatch(why);
    }
    expect(await readFile(path.join(reports, 'summary.md'), 'utf8')).toMatch(
      /^gateway-api skipped \(every suite\): the cluster does not serve Gateway .*standard-install\.yaml\) {2}$/m,
    );
  });
});

describe('environment errors before anything is created', { timeout: 900_000 }, () => {
  it('without a Docker engine, the default run ends within seconds with exit 2 naming Docker, and a report naming the step', async () => {
    const reports = await mkdtemp(path.join(work, 'reports-'));
    const { result, elapsed } = await withCliSlot(async () => {
      const started = Date.now();
      const result = await execa(process.execPath, [CLI, '--reports', reports], {
        reject: false,
        cwd: work,
        // No stand-ins on PATH; a socket that does not exist stands for "no engine".
        env: { ...process.env, DOCKER_HOST: `unix://${path.join(work, 'no-docker.sock')}` },
      });
      return { result, elapsed: Date.now() - started };
    });
    expect(result.exitCode).toBe(2);
    expect(elapsed).toBeLessThan(20_000);
    expect(String(result.stderr)).toMatch(/Docker/);
    expect(String(result.stderr)).not.toMatch(/\n\s+at /);
    const report = parse(await readFile(path.join(reports, 'conformance.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(JSON.stringify(report)).toMatch(/preflight/);
  });

  it('refuses an existing cluster without --existing-cluster-ok, saying why', async () => {
    const kubeconfig = path.join(work, 'kubeconfig');
    await writeFile(
      kubeconfig,
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: abc}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
    );
    const result = await execa(
      process.execPath,
      [
        CLI,
        '--cluster',
        'existing',
        '--kubeconfig',
        kubeconfig,
        '--external',
        'host:egress.example.com',
        '--reports',
        path.join(work, 'r-existing'),
      ],
      { reject: false, cwd: work },
    );
    expect(result.exitCode).toBe(2);
    expect(String(result.stderr)).toMatch(/--existing-cluster-ok/);
  });
});
