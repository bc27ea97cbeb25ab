import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { readSimOptions, SLOW_PROPAGATION_MS, startSimulatedCluster } from './cluster.ts';
import { istioInstallObjects } from './istio-bootstrap.ts';

describe('readSimOptions', () => {
  it('defaults to no faults, no propagation delay and instant pods', () => {
    expect(readSimOptions({})).toEqual({
      faults: new Set(),
      propagationMs: 0,
      propagationJitterMs: 0,
      podStartMs: 0,
    });
  });

  it('reads the variables, with jitter defaulting to a quarter of the delay', () => {
    const options = readSimOptions({
      EGRESS_SIM_FAULTS: 'gateway-bypass, counters-frozen',
      EGRESS_SIM_PROPAGATION_MS: '400',
      EGRESS_SIM_POD_START_MS: '250',
      EGRESS_SIM_TERMINATION_DRAIN_MS: '120',
    });
    expect([...options.faults]).toEqual(['gateway-bypass', 'counters-frozen']);
    expect(options).toMatchObject({
      propagationMs: 400,
      propagationJitterMs: 100,
      podStartMs: 250,
      terminationDrainMs: 120,
    });
    expect(
      readSimOptions({ EGRESS_SIM_PROPAGATION_MS: '400', EGRESS_SIM_PROPAGATION_JITTER_MS: '0' })
        .propagationJitterMs,
    ).toBe(0);
  });

  it('makes slow-propagation force an 8 s jittered delay', () => {
    const options = readSimOptions({
      EGRESS_SIM_FAULTS: 'slow-propagation',
      EGRESS_SIM_PROPAGATION_MS: '10',
    });
    expect(options.propagationMs).toBe(SLOW_PROPAGATION_MS);
    expect(options.propagationJitterMs).toBe(2000);
  });

  it('reads EGRESS_SIM_PROFILE: the shapes in order, once each, and names the valid ones on a typo', () => {
    expect(
      readSimOptions({ EGRESS_SIM_PROFILE: ' revisioned, json-logs,revisioned ' }).profiles,
    ).toEqual(['revisioned', 'json-logs']);
    expect(readSimOptions({ EGRESS_SIM_PROFILE: '' }).profiles).toBeUndefined();
    expect(() => readSimOptions({ EGRESS_SIM_PROFILE: 'classic' })).toThrow(
      /unknown profile "classic"; valid names: default, classic-sidecars, revisioned, gateway-namespace, custom-log-format, telemetry-logging, json-logs, no-outbound-stats/,
    );
  });

  it('names the valid faults when given an unknown one, and refuses bad numbers', () => {
    expect(() => readSimOptions({ EGRESS_SIM_FAULTS: 'gateway-bypass,no-such-fault' })).toThrow(
      /unknown fault "no-such-fault"; valid names: gateway-bypass, no-gateway-log, .*slow-propagation/,
    );
    expect(() => readSimOptions({ EGRESS_SIM_POD_START_MS: '-5' })).toThrow(
      /EGRESS_SIM_POD_START_MS/,
    );
  });
});

describe('Istio install through the API', () => {
  it('applies the install objects over HTTPS as the stand-in istioctl will, then injects sidecars', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'egress-sim-'));
    const cluster = await startSimulatedCluster({
      options: readSimOptions({}),
      dir,
      createExecHandler: () => ({
        exec: () => Promise.resolve({ stdout: '', stderr: '', exitCode: 0 }),
      }),
    });
    try {
      const kc = new KubeConfig();
      kc.loadFromFile(cluster.kubeconfigPath);
      const objects = KubernetesObjectApi.makeApiClient(kc);
      const core = kc.makeApiClient(CoreV1Api);
      const apps = kc.makeApiClient(AppsV1Api);
      expect((await core.listNamespace()).items.map((ns) => ns.metadata?.name)).not.toContain(
        'istio-system',
      );

      for (const object of istioInstallObjects({ version: '1.30.5', accessLogEncoding: 'TEXT' })) {
        await objects.patch(
          object as KubernetesObject,
          undefined,
          undefined,
          'istioctl',
          true,
          PatchStrategy.ServerSideApply,
        );
      }
      const gateway = await apps.readNamespacedDeployment({
        name: 'istio-egressgateway',
        namespace: 'istio-system',
      });
      expect(gateway.spec?.template.spec?.containers[0]?.image).toBe(
        'docker.io/istio/proxyv2:1.30.5',
      );

      await core.createNamespace({
        body: { metadata: { name: 'app', labels: { 'istio-injection': 'enabled' } } },
      });
      const pod = await core.createNamespacedPod({
        namespace: 'app',
        body: {
          metadata: { name: 'curl' },
          spec: { containers: [{ name: 'curl', image: 'curlimages/curl:8.11.1' }] },
        },
      });
      // Istio 1.30 on Kubernetes 1.36 injects a native sidecar (harness/facts.ts).
      expect(pod.spec?.containers.map((container) => container.name)).toEqual(['curl']);
      const proxy = pod.spec?.initContainers?.find((c) => c.name === 'istio-proxy');
      expect(proxy?.restartPolicy).toBe('Always');
      expect(proxy?.image).toBe('docker.io/istio/proxyv2:1.30.5');
    } finally {
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
