import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../../harness/errors.ts';
import { clusterDir, isAlive, runningPid } from '../../simulator/standins/state.ts';
import { DEFAULT_TIMEOUTS } from '../../harness/timeouts.ts';
import { KIND_NODE_IMAGE } from '../../harness/versions.ts';
import {
  type KindProviderOptions,
  createKindProvider,
  renderKindConfig,
} from '../../harness/providers/kind.ts';
import type { Progress } from '../../harness/providers/types.ts';

// The stand-ins first on PATH, as the issue asks; node itself for their shebang.
const STANDIN_BIN = fileURLToPath(new URL('../../simulator/bin', import.meta.url));
const NODE_BIN = join(process.execPath, '..');

let work: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'egc-kind-'));
  env = {
    ...process.env,
    PATH: `${STANDIN_BIN}:${NODE_BIN}:${process.env.PATH ?? ''}`,
    EGRESS_SIM_STATE_DIR: join(work, 'state'),
    EGRESS_SIM_WORLD_HOSTS: 'edition.cnn.com',
    // The version the stand-in istioctl reports is the pinned one, so no download is attempted.
    EGRESS_SIM_ISTIOCTL_VERSION: '',
  };
});

afterAll(async () => {
  // Whatever a failed test left running: stop every stand-in cluster of this test's state dir.
  const { stdout } = await execa('kind', ['get', 'clusters'], { env, reject: false });
  for (const name of String(stdout).split('\n').filter(Boolean)) {
    await execa('kind', ['delete', 'cluster', '--name', name], { env, reject: false });
  }
  await rm(work, { recursive: true, force: true });
});

function uniqueName(): string {
  return `egc-test-${randomBytes(3).toString('hex')}`;
}

async function options(overrides: Partial<KindProviderOptions> = {}): Promise<KindProviderOptions> {
  return {
    runId: randomBytes(3).toString('hex'),
    runDir: await mkdtemp(join(work, 'run-')),
    clusterName: uniqueName(),
    external: { mode: 'internet' },
    timeouts: DEFAULT_TIMEOUTS,
    cacheDir: join(work, 'cache'),
    // A download would mean the stand-ins were not found: fail fast instead.
    downloadBaseUrls: { kind: 'http://127.0.0.1:1', istioctl: 'http://127.0.0.1:1' },
    env,
    ...overrides,
  };
}

function recorder(): { progress: Progress; steps: string[] } {
  const steps: string[] = [];
  return {
    steps,
    progress: (step, state, detail) =>
      steps.push(`${step}: ${state}${detail ? ` (${detail})` : ''}`),
  };
}

async function clusters(): Promise<string[]> {
  const { stdout } = await execa('kind', ['get', 'clusters'], { env });
  return String(stdout).split('\n').filter(Boolean);
}

describe('the kind config', () => {
  it('keeps kindnet (it enforces NetworkPolicy) and pins the node image', () => {
    expect(parse(renderKindConfig({ name: 'c1', nodeImage: KIND_NODE_IMAGE }))).toEqual({
      kind: 'Cluster',
      apiVersion: 'kind.x-k8s.io/v1alpha4',
      name: 'c1',
      networking: { disableDefaultCNI: false },
      nodes: [{ role: 'control-plane', image: KIND_NODE_IMAGE }],
    });
  });
});

// Each stand-in call is a Node process that loads the Kubernetes client (about 2 s here).
describe('createKindProvider against the stand-in kind and istioctl', { timeout: 120_000 }, () => {
  it('creates a cluster, installs Istio, describes it, and deletes it on release', async () => {
    const settings = await options();
    const provider = createKindProvider(settings);
    const { progress, steps } = recorder();
    await provider.preflight();
    const target = await provider.provision({ suites: ['http-gateway', 'passthrough'], progress });

    expect(target).toMatchObject({
      kind: 'kind',
      simulated: false,
      kubeconfigPath: join(settings.runDir, 'kubeconfig'),
      kubernetesVersion: 'v1.36.1',
      kindVersion: 'v0.32.0',
      cni: 'kindnet',
      istio: {
        version: '1.31.1',
        revision: 'default',
        gateway: {
          namespace: 'istio-system',
          serviceName: 'istio-egressgateway',
          serviceAccount: 'istio-egressgateway-service-account',
        },
        accessLog: { enabled: true, encoding: 'JSON' },
        outboundStatsIncluded: true,
        outboundTrafficPolicy: 'ALLOW_ANY',
      },
    });
    expect(target.externalHosts['http-gateway']?.name).toBe('edition.cnn.com');
    const kubeconfig = parse(await readFile(target.kubeconfigPath, 'utf8')) as {
      'current-context': string;
    };
    expect(kubeconfig['current-context']).toBe(`kind-${settings.clusterName}`);
    expect(existsSync(join(settings.runDir, 'kind-config.yaml'))).toBe(true);
    expect(existsSync(join(settings.runDir, 'istio-overlay.yaml'))).toBe(true);
    expect(await clusters()).toContain(settings.clusterName);
    const pid = await runningPid(clusterDir(env, settings.clusterName!));
    expect(pid).toBeDefined();

    await provider.release({ keep: false, progress });
    expect(isAlive(pid!)).toBe(false);
    expect(await clusters()).not.toContain(settings.clusterName);
    expect(steps).toContain(`kind cluster: done (deleted ${settings.clusterName})`);
    // Idempotent: a second release (Ctrl-C during cleanup) does nothing more.
    await provider.release({ keep: false, progress });
  });

  it("supplies an upgrade's istioctl B: the one on PATH when it reports B, else a download (which fails here)", async () => {
    const provider = createKindProvider(
      await options({ env: { ...env, EGRESS_SIM_ISTIOCTL_VERSION: '1.30.5' } }),
    );
    const tool = await provider.istioctlFor!('1.30.5');
    expect(tool.path).toMatch(/istioctl$/);
    // Not on PATH in that version: downloaded and verified, here from an address that refuses.
    await expect(provider.istioctlFor!('1.29.8')).rejects.toThrow(/istioctl/);
  });

  // One kept cluster serves both: refusing to create it again and reusing it.
  it('keeps the cluster with --keep-cluster, refuses to create it again, and --reuse-cluster attaches to it without deleting it', async () => {
    const clusterName = uniqueName();
    const kept = createKindProvider(await options({ clusterName, keep: true }));
    await kept.preflight();
    await kept.provision({ suites: ['http-gateway'], progress: () => {} });
    await kept.release({ keep: false, progress: () => {} });
    expect(await clusters()).toContain(clusterName);

    const second = createKindProvider(await options({ clusterName }));
    const failure = await second.preflight().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toContain(
      `A kind cluster named ${clusterName} already exists and this run would not delete what it did not create`,
    );
    // The refused provider must not delete the other run's cluster on release.
    await second.release({ keep: false, progress: () => {} });
    expect(await clusters()).toContain(clusterName);

    const reuseOptions = await options({ clusterName, reuse: true });
    const reused = createKindProvider(reuseOptions);
    const { progress, steps } = recorder();
    await reused.preflight();
    const target = await reused.provision({ suites: ['http-gateway'], progress });
    expect(target.istio.version).toBe('1.31.1');
    expect(target.kubeconfigPath).toBe(join(reuseOptions.runDir, 'kubeconfig'));
    expect(steps).toContain('istio: done (Istio 1.31.1 already installed as this run needs it)');
    expect(existsSync(join(reuseOptions.runDir, 'kind-config.yaml'))).toBe(false);
    await reused.release({ keep: false, progress });
    expect(await clusters()).toContain(clusterName);

    await execa('kind', ['delete', 'cluster', '--name', clusterName], { env });
  });

  it('refuses to reuse a cluster that does not exist', async () => {
    await expect(createKindProvider(await options({ reuse: true })).preflight()).rejects.toThrow(
      /^There is no kind cluster named egc-test-\w+ to reuse; drop --reuse-cluster to create it/,
    );
  });

  it('deletes the cluster it created when provisioning fails after the create', async () => {
    const broken = join(work, 'broken-istioctl');
    await writeFile(
      broken,
      '#!/bin/sh\nif [ "$1" = version ]; then echo "client version: 1.31.1"; exit 0; fi\necho "Error: failed to install manifests" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    const settings = await options({ istioctlPath: broken });
    const provider = createKindProvider(settings);
    await provider.preflight();
    const failure = await provider
      .provision({ suites: ['b'], progress: () => {} })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(
      /^istioctl install failed: .*Error: failed to install manifests/,
    );
    const pid = await runningPid(clusterDir(env, settings.clusterName!));
    await provider.release({ keep: false, progress: () => {} });
    expect(pid === undefined || !isAlive(pid)).toBe(true);
    expect(await clusters()).not.toContain(settings.clusterName);
  });

  it('cleans up when released while the cluster is still being created', async () => {
    const settings = await options();
    const provider = createKindProvider(settings);
    await provider.preflight();
    let creating!: () => void;
    const createStarted = new Promise<void>((resolve) => (creating = resolve));
    const provisioning = provider
      .provision({
        suites: ['b'],
        progress: (step, state) => {
          if (step === 'kind cluster' && state === 'start') creating();
        },
      })
      .catch((error: unknown) => error);
    await createStarted;
    await provider.release({ keep: false, progress: () => {} });
    expect(await provisioning).toBeInstanceOf(Error);
    expect(await clusters()).not.toContain(settings.clusterName);
    expect(existsSync(clusterDir(env, settings.clusterName!))).toBe(false);
  });

  it('fails the preflight within seconds, naming Docker, when there is no engine', async () => {
    const noDocker = { ...env, PATH: `${join(work, 'nothing')}:${NODE_BIN}` };
    const started = Date.now();
    const failure = await createKindProvider(await options({ env: noDocker }))
      .preflight()
      .catch((error: unknown) => error);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(/^Docker engine not reachable: /);
  });
});
