/**
 * A sidecar's link to istiod, minimally: a sidecar gets its certificate and its whole
 * configuration (listeners, routes, clusters) from istiod at `CA_ADDR` (port 15012), over
 * the pod network, so NetworkPolicy applies to that connection as to any other. A sidecar
 * whose pod cannot reach istiod under the policies in force gets no configuration: Envoy
 * then has no outbound listener on 15001, where iptables sends the application's
 * connections, so they are refused. Decided with the same NetworkPolicy evaluation as every
 * other connection (network-policy.ts).
 *
 * Not modelled: a proxy that had its configuration before a policy cut it off would keep
 * serving that configuration (no new one) in a real mesh; here it loses it. The suites
 * create their pods after their policy exists, where both come to the same. Readiness is not
 * modelled either: a real cut-off pod also stays unready.
 */
import { INJECTION } from '../../harness/facts/injection.ts';
import { ISTIO_CONTROL_PLANE, istiodAddress } from '../../harness/facts/istio-install.ts';
import type { ClusterView, KubeObject } from '../types.ts';
import type { MeshContext } from './context.ts';
import { isReady, labelsOf, mapSelects, spec, stringMap } from './k8s.ts';
import { istiodAddressOf, parseAddress } from './mesh-config.ts';
import { connectionAllowed, dnsAllowed } from './network-policy.ts';

/** istiod's pod behind `service` in `namespace`: from the view if present, else the one the install has. */
function istiodPod(view: ClusterView, service: string, namespace: string): KubeObject {
  const selector = stringMap(spec(view.get('Service', namespace, service)).selector);
  const present =
    Object.keys(selector).length > 0
      ? view
          .list('Pod', namespace)
          .find((pod) => isReady(pod) && mapSelects(selector, labelsOf(pod)))
      : undefined;
  const { appLabel, xdsTlsPort } = ISTIO_CONTROL_PLANE;
  return (
    present ?? {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: service,
        namespace,
        labels: Object.keys(selector).length > 0 ? selector : { [appLabel.key]: appLabel.value },
      },
      spec: {
        containers: [
          {
            name: 'discovery',
            ports: [{ name: 'tls-xds', containerPort: xdsTlsPort, protocol: 'TCP' }],
          },
        ],
      },
      status: { podIP: '10.244.0.4' },
    }
  );
}

/** Whether the sidecar of `pod` can reach its istiod (and so has configuration from it). */
export function sidecarReachesIstiod(ctx: MeshContext, pod: KubeObject): boolean {
  if (ctx.fault('netpol-not-enforced')) return true;
  // pilot-agent resolves istiod's name through the pod's resolver first.
  if (!dnsAllowed(ctx.view, pod)) return false;
  const address =
    istiodAddressOf(pod) ??
    parseAddress(istiodAddress(INJECTION.defaultRevision, ISTIO_CONTROL_PLANE.defaultNamespace));
  const [service = '', namespace = ISTIO_CONTROL_PLANE.defaultNamespace] =
    address?.host.split('.') ?? [];
  return connectionAllowed(
    ctx.view,
    { kind: 'pod', pod },
    { kind: 'pod', pod: istiodPod(ctx.view, service, namespace) },
    address?.port ?? ISTIO_CONTROL_PLANE.xdsTlsPort,
    'TCP',
  );
}
