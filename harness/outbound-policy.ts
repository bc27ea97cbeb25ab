/**
 * `--outbound-policy allow-any|registry-only`: the mesh-wide outbound traffic policy the
 * harness installs (`meshConfig.outboundTrafficPolicy.mode` in the IstioOperator overlay on
 * kind; the simulated cluster's install likewise). On an existing cluster the policy is what
 * its mesh config says: the run reads it and the reports show it, so the flag is refused
 * there. Kept out of harness/cli.ts, which only wires it.
 */
import type { ClusterKind } from './providers/types.ts';

/** The mesh config's values, as Istio spells them (MeshConfig.OutboundTrafficPolicy.Mode). */
export type OutboundTrafficPolicy = 'ALLOW_ANY' | 'REGISTRY_ONLY';

const BY_FLAG: Readonly<Record<string, OutboundTrafficPolicy>> = {
  'allow-any': 'ALLOW_ANY',
  'registry-only': 'REGISTRY_ONLY',
};

/** The flag's definition for node:util parseArgs. */
export const FLAG = { 'outbound-policy': { type: 'string' } } as const;

/** The flag's line of `--help`. */
export const HELP =
  '  --outbound-policy MODE      allow-any | registry-only: mesh-wide outboundTrafficPolicy Istio is installed with (kind, simulated) [allow-any]';

/**
 * The policy `--outbound-policy` asks for (in parseArgs' `values`), or undefined when
 * absent; throws `Usage` (the CLI's UsageError) naming the valid values, or why the cluster
 * kind cannot take it.
 */
export function parse(
  values: Record<string, unknown>,
  cluster: ClusterKind,
  Usage: new (message: string) => Error,
): OutboundTrafficPolicy | undefined {
  const value = values['outbound-policy'];
  if (value === undefined) return undefined;
  const policy = typeof value === 'string' ? BY_FLAG[value] : undefined;
  if (!policy) {
    throw new Usage(
      `unknown --outbound-policy "${typeof value === 'string' ? value : ''}"; valid values: ${Object.keys(BY_FLAG).join(', ')}`,
    );
  }
  if (cluster === 'existing') {
    throw new Usage(
      '--outbound-policy sets how Istio is installed, and the harness never installs on an existing cluster; its mesh config decides (the reports show it)',
    );
  }
  return policy;
}
