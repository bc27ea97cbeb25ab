/**
 * The IstioOperator overlay `istioctl install -f` receives on a cluster the harness owns.
 * It turns on exactly what the suites observe: the egress gateway, access logs the
 * parser reads, the `cluster.outbound` Envoy counters, and the outbound traffic policy.
 * Field names follow Istio's `operator/pkg/apis/types.go` and MeshConfig/ProxyConfig.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { GATEWAY_PDB } from '../facts/upgrade.ts';

/** The choices a kind run makes about the mesh it installs. */
export interface OverlayOptions {
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  /** JSON unless told: it makes access-log parsing exact. */
  accessLogEncoding?: 'JSON' | 'TEXT';
  /** Install the egress gateway (an upgrade's canary control plane leaves it out at first). */
  egressGateway?: boolean;
  /**
   * `k8s.replicaCount` of the egress gateway; the chart's default (1) unless set. With more
   * than one, the overlay also asks for the gateway's PodDisruptionBudget (GATEWAY_PDB) by
   * name rather than relying on the chart's default, so an upgrade run's zero-loss default
   * holds for evictions (node drains) too; and it turns the chart's autoscaling off and sets
   * its `replicaCount`, because the chart renders the budget only for more than one replica
   * of its own values (`egressChartRendersPdb`), never for the `k8s.replicaCount` patch.
   */
  gatewayReplicas?: number;
}

/** The stats prefix that keeps `cluster.outbound|PORT|SUBSET|HOST.*` counters in Envoy. */
export const OUTBOUND_STATS_PREFIX = 'cluster.outbound';

/** The name the egress gateway gets in the default profile, and the one the suites select. */
export const EGRESS_GATEWAY_NAME = 'istio-egressgateway';

/** The IstioOperator object for {@link OverlayOptions}. */
export function buildIstioOperator({
  outboundTrafficPolicy,
  accessLogEncoding = 'JSON',
  egressGateway = true,
  gatewayReplicas,
}: OverlayOptions): Record<string, unknown> {
  return {
    apiVersion: 'install.istio.io/v1alpha1',
    kind: 'IstioOperator',
    metadata: { name: 'egress-conformance' },
    spec: {
      profile: 'default',
      meshConfig: {
        accessLogFile: '/dev/stdout',
        accessLogEncoding,
        outboundTrafficPolicy: { mode: outboundTrafficPolicy },
        defaultConfig: {
          proxyStatsMatcher: { inclusionPrefixes: [OUTBOUND_STATS_PREFIX] },
        },
      },
      ...(gatewayReplicas !== undefined && gatewayReplicas > 1
        ? {
            values: {
              ...nested(GATEWAY_PDB.valuesPath, true),
              ...nested(GATEWAY_PDB.gatewayValuesPath, {
                autoscaleEnabled: false,
                replicaCount: gatewayReplicas,
              }),
            },
          }
        : {}),
      components: {
        // The suites never use the ingress gateway, and on kind its LoadBalancer stays pending.
        ingressGateways: [{ name: 'istio-ingressgateway', enabled: false }],
        egressGateways: [
          {
            name: EGRESS_GATEWAY_NAME,
            enabled: egressGateway,
            ...(gatewayReplicas === undefined ? {} : { k8s: { replicaCount: gatewayReplicas } }),
          },
        ],
      },
    },
  };
}

/** `a.b.c` and a value as `{ a: { b: { c: value } } }`. */
function nested(dotted: string, value: unknown): Record<string, unknown> {
  return dotted
    .split('.')
    .reduceRight<Record<string, unknown>>((inner, key) => ({ [key]: inner }), value as never);
}

/** The overlay as YAML, with a header saying where it came from. */
export function renderOverlay(options: OverlayOptions): string {
  return `# Written by egress-conformance for \`istioctl install -y -f\`.\n${stringify(buildIstioOperator(options))}`;
}

/** Writes the overlay to `<runDir>/istio-overlay.yaml` and returns its path. */
export async function writeOverlay(runDir: string, options: OverlayOptions): Promise<string> {
  const path = join(runDir, 'istio-overlay.yaml');
  await writeFile(path, renderOverlay(options));
  return path;
}
