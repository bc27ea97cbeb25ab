/**
 * The named faults of `spec/simulated-cluster.md` and where each one bends the model.
 * Every check sits at the one place the fault applies (grep for its name); this map is
 * the index a reader starts from.
 */
import type { FaultName } from '../types.ts';

/** Where each fault acts, in one sentence each. */
export const FAULT_EFFECTS: Readonly<Record<FaultName, string>> = {
  'gateway-bypass':
    'sidecar.ts: a VirtualService route whose destination is a gateway Service is replaced by the default route straight to the requested host',
  'no-gateway-log':
    'access-log.ts: gateway proxies forward as usual but append nothing to their log',
  'wrong-upstream':
    'gateway.ts: HTTP routed by the gateway to port 80 goes to port 443 of the destination (cluster outbound|443||HOST), in plain text',
  'tls-terminated':
    'gateway.ts: a PASSTHROUGH server terminates the client TLS with the gateway workload certificate and re-originates TLS upstream',
  'sni-ignored':
    'gateway.ts: TLS whose SNI no PASSTHROUGH route matches is still routed, to the bound tls route whose host looks most like the SNI',
  'plaintext-accepted':
    'gateway.ts: an ISTIO_MUTUAL server accepts plain HTTP/TCP as if it had been unwrapped',
  'netpol-not-enforced':
    'network.ts, client.ts, proxy.ts: NetworkPolicy is never consulted (connections and DNS)',
  'counters-frozen': 'telemetry.ts: gateway proxies never change their counters or metrics',
  'dr-lookup-ignored':
    'proxy.ts: DestinationRules are found in any namespace after the lookup path',
  'slow-propagation': 'nothing here: the store delays what view() returns',
  'upgrade-drops-traffic':
    'controllers/deployments.ts: a gateway Deployment whose template changes replaces every replica at once instead of rolling',
  'skew-breaks-old-proxies':
    'network.ts: a sidecar whose proxy is an older minor version than the gateway pod it connects to is refused (503 UF,URX, istio/istio#22842)',
  'gateway-not-programmed':
    'controllers/gateway-api.ts: a Gateway API Gateway keeps Programmed=False (NoResources) although its deployment is ready',
  'hostname-backend-ignored':
    'gateway-api.ts: the gateway drops route backends of kind Hostname, so its routes to external hosts have no destination',
  'registry-only-ignored':
    "sidecar-scope.ts: sidecars ignore the Sidecar resource's outboundTrafficPolicy and keep the mesh config's",
  'wrong-gateway-identity':
    "workload-identity.ts: istiod's CA issues gateway proxies a certificate for their namespace's default service account (sidecars do not verify SANs in this model, so only the identity evidence shows it)",
};
