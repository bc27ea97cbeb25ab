/**
 * The cluster profiles of simulator/profiles.ts (EGRESS_SIM_PROFILE): what each one makes
 * the harness detect through the simulated provider, that a sidecar cut off from istiod by
 * NetworkPolicy really loses its configuration when the egress gateway runs apart from
 * istiod, and that the kind path (stand-in kind and istioctl) honours the node shape.
 * The verdicts of whole runs are in tests/e2e/profiles.e2e.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { runnableApis } from '../../harness/api-selection.ts';
import { hasProxy, isNativeSidecar } from '../../harness/facts.ts';
import { curlCommand } from '../../harness/curl.ts';
import { EnvironmentError } from '../../harness/errors.ts';
import { connect, type Kube } from '../../harness/k8s/client.ts';
import { execInPod } from '../../harness/k8s/exec.ts';
import { readContainerLog } from '../../harness/k8s/logs.ts';
import { createNamespace, setNamespaceLabels } from '../../harness/k8s/namespaces.ts';
import { applyObjects } from '../../harness/k8s/objects.ts';
import { listPods, waitForDeploymentReady } from '../../harness/k8s/workloads.ts';
import { loadManifests } from '../../harness/manifests.ts';
import { createKindProvider } from '../../harness/providers/kind.ts';
import type { ClusterTarget, Progress } from '../../harness/providers/types.ts';
import { DEFAULT_TIMEOUTS } from '../../harness/timeouts.ts';
import { readSimOptions, startSimulatedCluster } from '../../simulator/cluster.ts';
import { createMeshModel } from '../../simulator/mesh/model.ts';
import { PROFILE_NAMES, type ProfileName } from '../../simulator/profiles.ts';
import { createSimulatedProvider } from '../../simulator/provider.ts';
import { worldHostsFromEnv } from '../../simulator/standins/kind-world.ts';

const progress: Progress = () => {};
const work = await mkdtemp(join(tmpdir(), 'egc-profiles-'));
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function provisioned(profile: ProfileName): Promise<ClusterTarget> {
  const provider = createSimulatedProvider({
    runDir: await mkdtemp(join(work, `${profile}-`)),
    istioVersion: '1.31.1',
    env: { EGRESS_SIM_PROFILE: profile },
  });
  try {
    return await provider.provision({ suites: ['network-policy'], progress });
  } finally {
    await provider.release({ keep: false, progress });
  }
}

describe('what the harness detects on each profile (simulated provider)', () => {
  const pinned = {
    kubernetesVersion: 'v1.36.1',
    istio: {
      version: '1.31.1',
      revision: 'default',
      namespace: 'istio-system',
      gateway: { namespace: 'istio-system', serviceName: 'istio-egressgateway' },
      accessLog: { enabled: true, encoding: 'TEXT' },
      outboundStatsIncluded: true,
    },
  };
  const expected: Record<Exclude<ProfileName, 'custom-log-format'>, object> = {
    default: pinned,
    'classic-sidecars': { ...pinned, kubernetesVersion: 'v1.32.2' },
    revisioned: { istio: { ...pinned.istio, revision: 'canary' } },
    'gateway-namespace': {
      istio: {
        ...pinned.istio,
        namespace: 'istio-system',
        gateway: { namespace: 'istio-egress', serviceName: 'istio-egressgateway' },
      },
    },
    'telemetry-logging': pinned,
    'json-logs': { istio: { ...pinned.istio, accessLog: { enabled: true, encoding: 'JSON' } } },
    'no-outbound-stats': { istio: { ...pinned.istio, outboundStatsIncluded: false } },
    'no-gateway-api': pinned,
    'old-kubernetes': { ...pinned, kubernetesVersion: 'v1.31.2' },
  };

  it('covers every profile', () => {
    expect(new Set([...Object.keys(expected), 'custom-log-format'])).toEqual(
      new Set(PROFILE_NAMES),
    );
  });

  it.each(Object.entries(expected))('%s', async (profile, target) => {
    expect(await provisioned(profile as ProfileName)).toMatchObject(target);
  });

  it('no-gateway-api: the Gateway API kinds are not served, so the gateway-api variant is skipped saying how to install them', async () => {
    const selections = [];
    for (const profile of ['default', 'no-gateway-api'] as const) {
      const provider = createSimulatedProvider({
        runDir: await mkdtemp(join(work, `${profile}-apis-`)),
        istioVersion: '1.31.1',
        env: { EGRESS_SIM_PROFILE: profile },
      });
      try {
        const target = await provider.provision({ suites: ['http-gateway'], progress });
        const kube = connect({ kubeconfigPath: target.kubeconfigPath });
        selections.push(await runnableApis(kube, ['istio-api', 'gateway-api']));
      } finally {
        await provider.release({ keep: false, progress });
      }
    }
    expect(selections[0]).toEqual({ apis: ['istio-api', 'gateway-api'], skipped: [] });
    expect(selections[1]?.apis).toEqual(['istio-api']);
    expect(selections[1]?.skipped).toEqual([
      {
        api: 'gateway-api',
        reason: expect.stringMatching(
          /^the cluster does not serve Gateway \(gateway\.networking\.k8s\.io\/v1\), HTTPRoute \(gateway\.networking\.k8s\.io\/v1\), TLSRoute \(gateway\.networking\.k8s\.io\/v1\): install the Gateway API CRDs \(kubectl apply --server-side -f https:\/\/github\.com\/kubernetes-sigs\/gateway-api\/releases\/download\/v\d+\.\d+\.\d+\/standard-install\.yaml\)$/,
        ) as unknown,
      },
    ]);
  });

  it('custom-log-format: an environment error naming meshConfig.accessLogFormat', async () => {
    const failure = await provisioned('custom-log-format').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(
      /^The egress gateway's access log uses Envoy's own default TEXT format, which lacks the upstream cluster and SNI from meshConfig\.accessLogFormat \(ConfigMap istio-system\/istio\)/,
    );
  });

  it('an unknown profile is a setting error naming the valid ones', () => {
    expect(() =>
      createSimulatedProvider({
        runDir: work,
        istioVersion: '1.31.1',
        env: { EGRESS_SIM_PROFILE: 'json-logs,revsioned' },
      }),
    ).toThrow(/unknown profile "revsioned"; valid names: default, classic-sidecars, revisioned/);
  });
});

describe('gateway-namespace: NetworkPolicy between a sidecar and istiod', () => {
  it('a sidecar whose policy allows only the gateway namespace is cut off istiod; allowing istiod too restores it', async () => {
    const dir = await mkdtemp(join(work, 'cutoff-'));
    const hosts = worldHostsFromEnv({});
    const options = {
      ...readSimOptions({ EGRESS_SIM_PROFILE: 'gateway-namespace' }),
      externalHosts: hosts,
    };
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
      const kube = connect({ kubeconfigPath: cluster.kubeconfigPath });
      const namespace = 'egc-cutoff';
      const values = {
        name: 'egress-cutoff',
        namespace,
        host: 'edition.cnn.com',
        gatewayHost: 'istio-egressgateway.istio-egress.svc.cluster.local',
        subset: 'egress',
        gatewaySelectorKey: 'istio',
        gatewaySelectorValue: 'egressgateway',
        clientName: 'curl',
        clientImage: 'curlimages/curl:8.11.1',
      };
      // The task's labels and policy, with only the gateway's namespace labelled istio=system.
      await setNamespaceLabels(kube, 'istio-egress', { istio: 'system' });
      await setNamespaceLabels(kube, 'kube-system', { 'kube-system': 'true' });
      await createNamespace(kube, {
        name: namespace,
        runId: 'cutoff',
        labels: { 'istio-injection': 'enabled' },
      });
      await applyObjects(kube, [
        ...loadManifests('network-policy/istio-api', values),
        ...loadManifests('passthrough/istio-api', values),
        ...loadManifests('base/client.yaml', values),
      ]);
      const [client] = await waitForDeploymentReady(kube, {
        namespace,
        name: 'curl',
        timeoutMs: 20_000,
      });
      expect(client && hasProxy(client)).toBe(true);
      const request = async () =>
        execInPod(kube, {
          namespace,
          pod: client?.metadata?.name ?? '',
          container: 'curl',
          command: curlCommand({ url: 'https://edition.cnn.com/', maxTimeSeconds: 3 }),
          timeoutMs: 10_000,
        });

      const cutOff = await request();
      expect(cutOff.exitCode).toBe(7);
      expect(cutOff.stderr).toMatch(/Failed to connect to edition\.cnn\.com port 443/);

      await setNamespaceLabels(kube, 'istio-system', { istio: 'system' });
      const since = new Date(Date.now() - 1000);
      const through = await request();
      expect(through.exitCode, through.stderr).toBe(0);
      const [gateway] = await listPods(kube, 'istio-egress', 'istio=egressgateway');
      const log = await readContainerLog(kube, {
        namespace: 'istio-egress',
        pod: gateway?.metadata?.name ?? '',
        container: 'istio-proxy',
        since,
      });
      expect(log).toContain('outbound|443||edition.cnn.com');
    } finally {
      await cluster.stop();
    }
  });
});

// The stand-ins first on PATH; node itself for their shebang.
const STANDIN_BIN = fileURLToPath(new URL('../../simulator/bin', import.meta.url));

describe('the kind path (stand-in kind and istioctl)', { timeout: 120_000 }, () => {
  it('classic-sidecars: the node runs Kubernetes 1.32 and sidecars are regular containers', async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${STANDIN_BIN}:${join(process.execPath, '..')}:${process.env.PATH ?? ''}`,
      EGRESS_SIM_STATE_DIR: join(work, 'kind-state'),
      EGRESS_SIM_WORLD_HOSTS: 'edition.cnn.com',
      EGRESS_SIM_ISTIOCTL_VERSION: '',
      EGRESS_SIM_PROFILE: 'classic-sidecars',
    };
    const clusterName = `egc-profile-${randomBytes(3).toString('hex')}`;
    const provider = createKindProvider({
      runId: randomBytes(3).toString('hex'),
      runDir: await mkdtemp(join(work, 'kind-run-')),
      clusterName,
      external: { mode: 'internet' },
      timeouts: DEFAULT_TIMEOUTS,
      cacheDir: join(work, 'kind-cache'),
      downloadBaseUrls: { kind: 'http://127.0.0.1:1', istioctl: 'http://127.0.0.1:1' },
      env,
    });
    try {
      await provider.preflight();
      const target = await provider.provision({ suites: ['network-policy'], progress });
      expect(target).toMatchObject({ kind: 'kind', kubernetesVersion: 'v1.32.2' });
      const kube: Kube = connect({ kubeconfigPath: target.kubeconfigPath });
      await createNamespace(kube, {
        name: 'egc-classic',
        runId: 'classic',
        labels: { 'istio-injection': 'enabled' },
      });
      await applyObjects(
        kube,
        loadManifests('base/client.yaml', {
          namespace: 'egc-classic',
          clientName: 'curl',
          clientImage: 'curlimages/curl:8.11.1',
        }),
      );
      const [pod] = await waitForDeploymentReady(kube, {
        namespace: 'egc-classic',
        name: 'curl',
        timeoutMs: 20_000,
      });
      expect(pod?.spec?.containers.map((c) => c.name)).toEqual(['curl', 'istio-proxy']);
      expect(pod && isNativeSidecar(pod)).toBe(false);
    } finally {
      await provider.release({ keep: false, progress });
      await execa('kind', ['delete', 'cluster', '--name', clusterName], { env, reject: false });
    }
  });
});
