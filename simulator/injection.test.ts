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
