/**
 * `istio-api`: Istio's own Gateway, VirtualService and DestinationRule, as the Egress
 * Gateways task writes them, routed through the egress gateway Istio was installed with.
 */
import type { ApiVariant, GatewayUnderTest, VariantContext } from '../variants.ts';

function installedGateway({ target }: VariantContext): GatewayUnderTest {
  const gateway = target.istio.gateway;
  return {
    namespace: gateway.namespace,
    selector: gateway.selector,
    serviceName: gateway.serviceName,
    serviceHost: `${gateway.serviceName}.${gateway.namespace}.svc.cluster.local`,
    // As the installed gateway's pods run (detection reads their spec): Istio's egress chart
    // names it ISTIO_EGRESS_GATEWAY_SERVICE_ACCOUNT, a custom install may not.
    serviceAccount: gateway.serviceAccount,
  };
}

export const ISTIO_API: ApiVariant = {
  name: 'istio-api',
  manifestDir: 'istio-api',
  templateValues(context) {
    const gateway = installedGateway(context);
    return {
      gatewayHost: gateway.serviceHost,
      gatewaySelectorKey: gateway.selector.key,
      gatewaySelectorValue: gateway.selector.value,
    };
  },
  gatewayUnderTest: installedGateway,
  routeFiles: ['gateway.yaml', 'destination-rule.yaml', 'virtual-service.yaml'],
  mutualTlsPort: 443,
  gatewayNamespaceLabels: { istio: 'system' },
  clientNeedsDestinationRule: true,
  deploysGateway: false,
  noFormFor: () => undefined,
  hints: {
    httpThroughGateway: (_context, gateway) =>
      `check that the VirtualService binds to both "mesh" and the Gateway, that the DestinationRule subset exists in the client's namespace, and read the gateway's config with "istioctl proxy-config routes <gateway-pod> -n ${gateway.namespace}"`,
    tlsThroughGateway: ({ host }, gateway) =>
      `check the VirtualService's tls routes (sniHosts ${host}) for "mesh" and the Gateway, the Gateway's PASSTHROUGH server on 443, and "istioctl proxy-config listeners <gateway-pod> -n ${gateway.namespace}"`,
    unexpectedGatewayEntry: (scheme) =>
      scheme === 'http'
        ? 'if the gateway logged it, a VirtualService from another namespace or an earlier run may still route this host; if the request failed, check that the ServiceEntry exists and the host resolves from the cluster'
        : 'only port 80 should be routed to the gateway in this setup; a VirtualService with tls routes for this host would explain a gateway entry',
    plaintextAccepted: (port) =>
      `the Gateway server on ${port} must use tls.mode ISTIO_MUTUAL; check "istioctl proxy-config listeners" on the gateway for a plaintext filter chain on ${port}`,
    tlsTerminated: () =>
      "a gateway server with tls.mode SIMPLE (or a DestinationRule originating TLS) terminates the client's TLS; PASSTHROUGH must be set on the Gateway's 443 server",
    otherSniRouted: ({ host }, gateway) =>
      `the Gateway server on 443 must list only ${host} in hosts and the VirtualService tls route must match sniHosts ${host}; check "istioctl proxy-config listeners <gateway-pod> -n ${gateway.namespace} --port 8443"`,
  },
};
