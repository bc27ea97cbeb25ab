// The simulated injector renders the layout Istio's own injector renders for the versions
// in play (NATIVE_SIDECARS in harness/facts.ts): classic below Istio 1.27 or Kubernetes
// 1.33, native sidecars from both on.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { readSimOptions, startSimulatedCluster } from './cluster.ts';

async function injectedPod(istioVersion: string, kubernetesVersion: string): Promise<V1Pod> {
  const dir = await mkdtemp(join(tmpdir(), 'egress-sim-inject-'));
  const cluster = await startSimulatedCluster({
    options: readSimOptions({ EGRESS_SIM_POD_START_MS: '50', EGRESS_SIM_PROPAGATION_MS: '0' }),
    dir,
    kubernetesVersion,
    createExecHandler: () => ({
      exec: () => Promise.resolve({ stdout: '', stderr: '', exitCode: 0 }),
    }),
    istio: {
      version: istioVersion,
      install: true,
      accessLogEncoding: 'TEXT',
      outboundStatsIncluded: true,
    },
  });
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({
      body: { metadata: { name: 'app', labels: { 'istio-injection': 'enabled' } } },
    });
    await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
      namespace: 'app',
      body: {
        metadata: { name: 'client' },
        spec: {
          selector: { matchLabels: { app: 'client' } },
          template: {
            metadata: { labels: { app: 'client' } },
            spec: { containers: [{ name: 'curl', image: 'curlimages/curl:8.11.1' }] },
          },
        },
      },
    });
    const deadline = Date.now() + 5_000;
    for (;;) {
      const pods = await core.listNamespacedPod({ namespace: 'app' });
      const pod = pods.items.find((candidate) => candidate.status?.phase === 'Running');
      if (pod) return pod;
      if (Date.now() > deadline) throw new Error('no Running pod in app after 5 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const names = (list: { name: string }[] | undefined) => (list ?? []).map((c) => c.name);

describe('sidecar layout by version', () => {
  it('Istio 1.31 on Kubernetes 1.36: istio-proxy is a restartable init container', async () => {
    const pod = await injectedPod('1.31.1', 'v1.36.1');
    expect(names(pod.spec?.containers)).toEqual(['curl']);
    expect(pod.spec?.initContainers?.find((c) => c.name === 'istio-proxy')?.restartPolicy).toBe(
      'Always',
    );
  });

  it('Istio 1.31 on Kubernetes 1.32: the classic layout', async () => {
    const pod = await injectedPod('1.31.1', 'v1.32.5');
    expect(names(pod.spec?.containers)).toEqual(['curl', 'istio-proxy']);
    expect(names(pod.spec?.initContainers)).toEqual(['istio-init']);
  });

  it('Istio 1.26 on Kubernetes 1.36: the classic layout', async () => {
    const pod = await injectedPod('1.26.4', 'v1.36.1');
    expect(names(pod.spec?.containers)).toEqual(['curl', 'istio-proxy']);
  });
});

/** The pods a Deployment gets in namespaces labelled as given, on a cluster of the profile. */
async function podsByNamespace(
  profile: string,
  namespaces: Record<string, Record<string, string>>,
): Promise<Record<string, V1Pod>> {
  const dir = await mkdtemp(join(tmpdir(), 'egress-sim-inject-'));
  const cluster = await startSimulatedCluster({
    options: readSimOptions({ EGRESS_SIM_PROFILE: profile }),
    dir,
    createExecHandler: () => ({
      exec: () => Promise.resolve({ stdout: '', stderr: '', exitCode: 0 }),
    }),
    istio: {
      version: '1.31.1',
      install: true,
      accessLogEncoding: 'TEXT',
      outboundStatsIncluded: true,
    },
  });
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const pods: Record<string, V1Pod> = {};
    for (const [name, labels] of Object.entries(namespaces)) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
      pods[name] = await core.createNamespacedPod({
        namespace: name,
        body: {
          metadata: { name: 'client', labels: { app: 'client' } },
          spec: { containers: [{ name: 'curl', image: 'curlimages/curl:8.11.1' }] },
        },
      });
    }
    return pods;
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const proxyOf = (pod: V1Pod | undefined) =>
  [...(pod?.spec?.containers ?? []), ...(pod?.spec?.initContainers ?? [])].find(
    (c) => c.name === 'istio-proxy',
  );

describe('injection by revision (INJECTION in harness/facts/injection.ts)', () => {
  it('a revision without a default tag injects istio.io/rev=<rev> namespaces, not istio-injection=enabled ones', async () => {
    const pods = await podsByNamespace('revisioned', {
      legacy: { 'istio-injection': 'enabled' },
      canary: { 'istio.io/rev': 'canary' },
      both: { 'istio-injection': 'enabled', 'istio.io/rev': 'canary' },
    });
    expect(proxyOf(pods.legacy)).toBeUndefined();
    expect(proxyOf(pods.both)).toBeUndefined();
    const proxy = proxyOf(pods.canary);
    expect(proxy?.restartPolicy).toBe('Always');
    expect(proxy?.env?.find((e) => e.name === 'CA_ADDR')?.value).toBe(
      'istiod-canary.istio-system.svc:15012',
    );
    expect(pods.canary?.metadata?.annotations?.['istio.io/rev']).toBe('canary');
    expect(
      JSON.parse(pods.canary?.metadata?.annotations?.['sidecar.istio.io/status'] ?? '{}'),
    ).toMatchObject({
      revision: 'canary',
    });
  });

  it('the default revision injects istio-injection=enabled namespaces, not istio.io/rev=canary ones', async () => {
    const pods = await podsByNamespace('default', {
      legacy: { 'istio-injection': 'enabled' },
      canary: { 'istio.io/rev': 'canary' },
      rev: { 'istio.io/rev': 'default' },
    });
    expect(proxyOf(pods.canary)).toBeUndefined();
    expect(proxyOf(pods.legacy)?.env?.find((e) => e.name === 'CA_ADDR')?.value).toBe(
      'istiod.istio-system.svc:15012',
    );
    expect(proxyOf(pods.rev)).toBeDefined();
  });

  it('classic-sidecars: the node runs Kubernetes 1.32, so the proxy is a regular container', async () => {
    const pods = await podsByNamespace('classic-sidecars', {
      app: { 'istio-injection': 'enabled' },
    });
    expect(names(pods.app?.spec?.containers)).toEqual(['curl', 'istio-proxy']);
  });
});
