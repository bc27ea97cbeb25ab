/**
 * The gateway's identity (the Egress Gateways page's troubleshooting step for mutual TLS):
 * the workload certificate its proxy holds names the gateway's own service account in the
 * mesh's trust domain. Sidecars originating ISTIO_MUTUAL to the gateway verify that name,
 * so a gateway issued another identity is one no client should trust.
 */
import { establish } from './checks.ts';
import { identityFromCerts, identityFromConfigDump, type ProxyIdentity } from './envoy/identity.ts';
import { ISTIO_EGRESS_GATEWAY_SERVICE_ACCOUNT, spiffeId } from './facts/istio-install.ts';
import type { SuiteEnvironment } from './suite.ts';

/** What one gateway pod holds. */
interface PodIdentity {
  pod: string;
  identity: ProxyIdentity | undefined;
}

/** The identity the gateway under test must carry: its namespace and service account in the mesh's trust domain. */
export function expectedGatewayIdentity(env: SuiteEnvironment): string {
  return spiffeId(
    env.run.target.istio.trustDomain,
    env.gateway.namespace,
    env.gateway.serviceAccount,
  );
}

async function readIdentities(env: SuiteEnvironment): Promise<PodIdentity[]> {
  const dumps = await env.gatewayAdmin('config_dump');
  const out: PodIdentity[] = [];
  for (const { pod, text } of dumps) {
    let identity = identityFromConfigDump(text);
    if (!identity) {
      // A dump without the SDS secret (older Envoy, or a filtered dump): ask the certs listing.
      const certs = (await env.gatewayAdmin('certs')).find((entry) => entry.pod === pod);
      identity = certs ? identityFromCerts(certs.text) : undefined;
    }
    out.push({ pod, identity });
  }
  return out;
}

/** Which part of a SPIFFE ID differs, for the message. */
function difference(expected: string, seen: string): string {
  const parse = (id: string): RegExpExecArray | null =>
    /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(id);
  const [, td, ns, sa] = parse(expected) ?? [];
  const other = parse(seen);
  if (!other)
    return 'it is not a SPIFFE ID of the form spiffe://<trust domain>/ns/<namespace>/sa/<service account>';
  const parts: string[] = [];
  if (other[1] !== td) parts.push(`trust domain ${other[1]} instead of ${td}`);
  if (other[2] !== ns) parts.push(`namespace ${other[2]} instead of ${ns}`);
  if (other[3] !== sa) parts.push(`service account ${other[3]} instead of ${sa}`);
  return parts.join(', ');
}

/**
 * Every ready gateway pod's workload certificate carries
 * `spiffe://<trust domain>/ns/<gateway namespace>/sa/<gateway service account>`.
 */
export async function gatewayMustCarryIdentity(
  behaviour: string,
  env: SuiteEnvironment,
): Promise<{ identity: string; pods: string[] }> {
  const expected = expectedGatewayIdentity(env);
  const convergence = await establish(behaviour, env, {
    what: `the egress gateway's workload certificate to carry the SAN ${expected}`,
    observe: () => readIdentities(env),
    check: (pods) => {
      if (pods.length === 0)
        return 'no ready egress gateway pod was found, so its identity cannot be read';
      for (const { pod, identity } of pods) {
        if (!identity || identity.uris.length === 0) {
          return `gateway pod ${pod} holds no workload certificate yet (no SDS secret "default" in its config_dump, no certificate in its certs listing); a proxy that just started may still be warming its secrets`;
        }
        if (!identity.uris.includes(expected)) {
          const seen = identity.uris.join(', ');
          return `gateway pod ${pod} carries the identity ${seen}, not ${expected}: ${difference(expected, identity.uris[0] ?? '')}; its certificate was issued for another workload, so sidecars verifying the gateway's name under ISTIO_MUTUAL would reject it`;
        }
      }
      return true;
    },
    describe: (pods) =>
      pods.length === 0
        ? 'no ready gateway pod'
        : pods
            .map(
              ({ pod, identity }) =>
                `${pod}: ${identity ? `${identity.uris.join(', ') || 'no URI SAN'} (from ${identity.source})` : 'no workload certificate'}`,
            )
            .join('; '),
    hint: `the SAN is spiffe://<meshConfig.trustDomain>/ns/<the gateway's namespace>/sa/<its pods' serviceAccountName> (Istio's egress chart: ${ISTIO_EGRESS_GATEWAY_SERVICE_ACCOUNT}); compare "istioctl proxy-config secret <gateway-pod> -n ${env.gateway.namespace}" with the mesh config's trustDomain (${env.run.target.istio.trustDomain}) and the gateway Deployment's serviceAccountName (${env.gateway.serviceAccount})`,
  });
  return { identity: expected, pods: convergence.last.map((entry) => entry.pod) };
}
