import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildIstioOperator, renderOverlay, writeOverlay } from './overlay.ts';

describe('the IstioOperator overlay', () => {
  it('enables the egress gateway, JSON access logs, cluster.outbound stats and the outbound policy', () => {
    expect(buildIstioOperator({ outboundTrafficPolicy: 'REGISTRY_ONLY' })).toEqual({
      apiVersion: 'install.istio.io/v1alpha1',
      kind: 'IstioOperator',
      metadata: { name: 'egress-conformance' },
      spec: {
        profile: 'default',
        meshConfig: {
          accessLogFile: '/dev/stdout',
          accessLogEncoding: 'JSON',
          outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
          defaultConfig: { proxyStatsMatcher: { inclusionPrefixes: ['cluster.outbound'] } },
        },
        components: {
          ingressGateways: [{ name: 'istio-ingressgateway', enabled: false }],
          egressGateways: [{ name: 'istio-egressgateway', enabled: true }],
        },
      },
    });
  });

  it('asks for 2 gateway replicas with their PodDisruptionBudget for upgrade runs, nothing extra for 1', () => {
    const spec = (replicas: number): Record<string, unknown> =>
      buildIstioOperator({ outboundTrafficPolicy: 'ALLOW_ANY', gatewayReplicas: replicas })
        .spec as Record<string, unknown>;
    expect(spec(2).values).toEqual({ global: { defaultPodDisruptionBudget: { enabled: true } } });
    expect(spec(2).components).toMatchObject({
      egressGateways: [{ name: 'istio-egressgateway', k8s: { replicaCount: 2 } }],
    });
    expect(spec(1).values).toBeUndefined();
  });

  it('renders YAML that parses back to the same object and writes it to the run directory', async () => {
    const options = { outboundTrafficPolicy: 'ALLOW_ANY', accessLogEncoding: 'TEXT' } as const;
    expect(parse(renderOverlay(options))).toEqual(buildIstioOperator(options));
    const dir = await mkdtemp(join(tmpdir(), 'egc-overlay-'));
    try {
      const path = await writeOverlay(dir, options);
      expect(path).toBe(join(dir, 'istio-overlay.yaml'));
      expect(parse(await readFile(path, 'utf8'))).toEqual(buildIstioOperator(options));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
