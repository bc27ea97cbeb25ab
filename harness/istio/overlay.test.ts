import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { egressChartRendersPdb } from '../facts/upgrade.ts';
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
    expect(spec(2).values).toEqual({
      global: { defaultPodDisruptionBudget: { enabled: true } },
      gateways: { 'istio-egressgateway': { autoscaleEnabled: false, replicaCount: 2 } },
    });
    expect(spec(2).components).toMatchObject({
      egressGateways: [{ name: 'istio-egressgateway', k8s: { replicaCount: 2 } }],
    });
    expect(spec(1).values).toBeUndefined();
  });

  it("asks in a way the egress chart's PodDisruptionBudget template renders (GATEWAY_PDB)", () => {
    const values = (replicas: number): unknown =>
      (
        buildIstioOperator({ outboundTrafficPolicy: 'ALLOW_ANY', gatewayReplicas: replicas })
          .spec as Record<string, unknown>
      ).values;
    expect(egressChartRendersPdb(values(2))).toBe(true);
    expect(egressChartRendersPdb(values(1))).toBe(false);
    // The negative control: the switch alone, with the chart's autoscaling defaults (min 1),
    // renders no budget, whatever k8s.replicaCount patches onto the Deployment.
    expect(
      egressChartRendersPdb({ global: { defaultPodDisruptionBudget: { enabled: true } } }),
    ).toBe(false);
    expect(
      egressChartRendersPdb({ gateways: { 'istio-egressgateway': { autoscaleMin: 2 } } }),
    ).toBe(true);
    expect(
      egressChartRendersPdb({
        global: { defaultPodDisruptionBudget: { enabled: false } },
        gateways: { 'istio-egressgateway': { autoscaleEnabled: false, replicaCount: 3 } },
      }),
    ).toBe(false);
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
