import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../../harness/errors.ts';
import { connect, type Kube } from '../../harness/k8s/client.ts';
import { restoreNamespaceLabels, setNamespaceLabels } from '../../harness/k8s/namespaces.ts';
import {
  type SimulatedCluster,
  readSimOptions,
  startSimulatedCluster,
} from '../../simulator/cluster.ts';
import { DEFAULT_TIMEOUTS } from '../../harness/timeouts.ts';
import {
  createExistingProvider,
  detectCni,
  resolveKubeconfigPath,
} from '../../harness/providers/existing.ts';
import type { Progress } from '../../harness/providers/types.ts';

const progress: Progress = () => {};
let cluster: SimulatedCluster;
let dir: string;
let kube: Kube;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'egc-existing-'));
  cluster = await startSimulatedCluster({
    options: readSimOptions({}),
    dir,
    createExecHandler: () => ({
      exec: () => Promise.resolve({ stdout: '', stderr: '', exitCode: 126 }),
    }),
    istio: {
      version: '1.30.5',
      accessLogEncoding: 'TEXT',
      outboundStatsIncluded: false,
      install: true,
    },
  });
  kube = connect({ kubeconfigPath: cluster.kubeconfigPath });
});

afterAll(async () => {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
});

function provider(overrides: Partial<Parameters<typeof createExistingProvider>[0]> = {}) {
  return createExistingProvider({
    runId: 'r1',
    runDir: dir,
    kubeconfigPath: cluster.kubeconfigPath,
    existingClusterOk: true,
    external: { mode: 'host', hostName: 'approved.example.com' },
    timeouts: DEFAULT_TIMEOUTS,
    ...overrides,
  });
}

async function namespaceNames(): Promise<string[]> {
  return (await kube.core.listNamespace()).items.map((ns) => ns.metadata?.name ?? '').sort();
}

describe('the existing-cluster guard', () => {
  it('refuses without --existing-cluster-ok, says why, and touches nothing', async () => {
    const before = await namespaceNames();
    const failure = await provider({ existingClusterOk: false })
      .preflight()
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(
      /^Refusing to run against the existing cluster egress-conformance-simulated \(https:\/\/127\.0\.0\.1:\d+\) without --existing-cluster-ok, because the run creates namespaces and runs pods there, applies Istio networking config and a NetworkPolicy in them, and temporarily labels istio-system and kube-system \(restoring the labels afterwards\); pass --existing-cluster-ok if that is acceptable there\.$/,
    );
    expect(await namespaceNames()).toEqual(before);
  });

  it('refuses provision too, and still refuses when the kubeconfig cannot be read', async () => {
    await expect(
      provider({ existingClusterOk: false }).provision({ suites: ['x'], progress }),
    ).rejects.toThrow(/^Refusing to run against/);
    await expect(
      provider({ existingClusterOk: false, kubeconfigPath: join(dir, 'missing') }).preflight(),
    ).rejects.toThrow(
      /^Refusing to run against the cluster of the current context in .*missing without --existing-cluster-ok/,
    );
  });
});

describe('createExistingProvider', () => {
  it('detects the installed Istio and describes the cluster without changing it', async () => {
    const before = await namespaceNames();
    const target = await provider().provision({
      suites: ['http-gateway', 'passthrough'],
      progress,
    });
    expect(target).toMatchObject({
      kind: 'existing',
      simulated: false,
      kubeconfigPath: cluster.kubeconfigPath,
      kubernetesVersion: 'v1.36.1',
      cni: 'unknown',
      istio: {
        version: '1.30.5',
        gateway: { namespace: 'istio-system', serviceName: 'istio-egressgateway' },
        accessLog: { enabled: true, encoding: 'TEXT' },
        outboundStatsIncluded: false,
      },
    });
    expect(Object.keys(target.externalHosts)).toEqual(['http-gateway', 'passthrough']);
    expect(target.externalHosts.passthrough).toMatchObject({
      name: 'approved.example.com',
      mode: 'host',
      insecure: false,
    });
    expect(await namespaceNames()).toEqual(before);
  });

  it('wants a named external host, never the local one', async () => {
    await expect(provider({ external: undefined }).preflight()).rejects.toThrow(
      /pass --external host:<dns-name>/,
    );
    await expect(provider({ external: { mode: 'local' } }).preflight()).rejects.toThrow(
      /^--external local needs a kind cluster the harness owns/,
    );
    const target = await provider({ external: { mode: 'internet' } }).provision({
      suites: ['b'],
      progress,
    });
    expect(target.externalHosts.b?.name).toBe('edition.cnn.com');
  });

  it('reports an unknown CNI when it cannot see a known DaemonSet', async () => {
    await expect(detectCni(kube)).resolves.toBe('unknown');
  });
});

describe('namespace labels on a cluster the run does not own', () => {
  it('are restored exactly: changed values back, added keys removed, others untouched', async () => {
    await setNamespaceLabels(kube, 'istio-system', { istio: 'control-plane', team: 'platform' });
    const read = async (name: string) =>
      (await kube.core.readNamespace({ name })).metadata?.labels ?? {};
    const before = { istio: await read('istio-system'), kube: await read('kube-system') };

    const previousIstio = await setNamespaceLabels(kube, 'istio-system', { istio: 'system' });
    const previousKube = await setNamespaceLabels(kube, 'kube-system', { 'kube-system': 'true' });
    expect(await read('istio-system')).toEqual({ ...before.istio, istio: 'system' });
    expect(await read('kube-system')).toEqual({ ...before.kube, 'kube-system': 'true' });

    await restoreNamespaceLabels(kube, 'kube-system', previousKube);
    await restoreNamespaceLabels(kube, 'istio-system', previousIstio);
    expect(await read('istio-system')).toEqual(before.istio);
    expect(await read('kube-system')).toEqual(before.kube);
  });
});

describe('resolveKubeconfigPath', () => {
  it('prefers --kubeconfig, then the first existing KUBECONFIG entry, then ~/.kube/config', async () => {
    const existing = join(dir, 'second');
    await writeFile(existing, '');
    expect(resolveKubeconfigPath('rel/config', {})).toBe(join(process.cwd(), 'rel/config'));
    expect(
      resolveKubeconfigPath(undefined, { KUBECONFIG: `${join(dir, 'absent')}:${existing}` }),
    ).toBe(existing);
    expect(resolveKubeconfigPath(undefined, {})).toBe(join(homedir(), '.kube', 'config'));
  });
});
