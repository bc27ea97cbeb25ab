/**
 * The workload certificate istiod's CA issues a proxy over SDS: the SPIFFE ID of its pod's
 * service account in the mesh's trust domain (WORKLOAD_IDENTITY, spiffeId in
 * harness/facts/istio-install.ts). pilot-agent's `config_dump` and `certs` show it, and the
 * gateway presents it where it terminates TLS.
 */
import type { KubeObject } from '../types.ts';
import type { ServerIdentity } from './certs.ts';
import type { MeshContext } from './context.ts';
import { isGatewayPod, namespaceOf, serviceAccountOf } from './k8s.ts';

/**
 * The service account the `wrong-gateway-identity` fault has the CA put in a gateway's
 * certificate instead of its own: the namespace's default one.
 */
const WRONG_GATEWAY_SERVICE_ACCOUNT = 'default';

/** The proxy's workload identity, as istiod's CA issued it. */
export function workloadIdentity(ctx: MeshContext, pod: KubeObject): ServerIdentity {
  const own = serviceAccountOf(pod);
  const serviceAccount =
    ctx.fault('wrong-gateway-identity') &&
    isGatewayPod(pod) &&
    own !== WRONG_GATEWAY_SERVICE_ACCOUNT
      ? WRONG_GATEWAY_SERVICE_ACCOUNT
      : own;
  return ctx.state.certificates.identity(ctx.mesh.trustDomain, namespaceOf(pod), serviceAccount);
}
