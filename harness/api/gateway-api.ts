/**
 * `gateway-api`: the Kubernetes Gateway API form of the Egress Gateways task (istio.io's
 * "Gateway API" tabs): a Gateway of class `istio` in the suite's namespace, for which Istio
 * deploys its own gateway `<name>-istio`, routes whose parent is the ServiceEntry (sidecar
 * side) and the Gateway (sending to a Hostname backend). Facts: harness/facts/gateway-api.ts.
 */
import { ISTIO_GATEWAY_DEPLOYMENT, istioGatewayDeploymentName } from '../facts/gateway-api.ts';
import type { ApiVariant, GatewayUnderTest, VariantContext } from '../variants.ts';

/** The gateway Istio deployed for the suite's Gateway (named after the suite). */
function deployedGateway({ suite, configNamespace }: VariantContext): GatewayUnderTest {
  if (!configNamespace) {
    throw new Error(
      `the gateway-api variant of ${suite} has no gateway yet: its Gateway must be applied first`,
    );
  }
  const serviceName = istioGatewayDeploymentName(suite);
  return {
    namespace: configNamespace,
    selector: { key: ISTIO_GATEWAY_DEPLOYMENT.gatewayNameLabel, value: suite },
    serviceName,
    serviceHost: `${serviceName}.${configNamespace}.svc.cluster.local`,
    serviceAccount: serviceName,
  };
}

export const GATEWAY_API: ApiVariant = {
  name: 'gateway-api',
  manifestDir: 'gateway-api',
  templateValues({ suite }, namespace) {
    const serviceName = istioGatewayDeploymentName(suite);
    return {
      gatewayService: serviceName,
      gatewayHost: `${serviceName}.${namespace}.svc.cluster.local`,
    };
  },
  gatewayUnderTest: deployedGateway,
  // The mTLS form adds the DestinationRule on the gateway's Service (TLS-origination page).
  routeFiles: ['gateway.yaml', 'destination-rule.yaml', 'routes.yaml'],
  // The TLS-origination page's HTTPS listener with ISTIO_MUTUAL listens on 80.
  mutualTlsPort: 80,
  // The page's Gateway API tab labels the gateway's namespace gateway=true.
  gatewayNamespaceLabels: { gateway: 'true' },
  clientNeedsDestinationRule: false,
  deploysGateway: true,
  noFormFor(suite, variant) {
    if (suite === 'dr-lookup') {
      return 'the Gateway API has no DestinationRule subset on the path to the gateway, so B5 has no form in it';
    }
    if (suite === 'passthrough' && variant.mtls === 'enabled') {
      return 'istio.io documents no Gateway API form of TLS passthrough with mutual TLS between sidecar and gateway';
    }
    return undefined;
  },
  hints: {
    httpThroughGateway: ({ suite }, gateway) =>
      `check that the Gateway ${suite} is Programmed, that the HTTPRoute with the ServiceEntry parent sends to ${gateway.serviceName} and the one on the Gateway to the Hostname backend, and read the gateway's routes with "istioctl proxy-config routes deploy/${gateway.serviceName} -n ${gateway.namespace}"`,
    tlsThroughGateway: ({ host, suite }, gateway) =>
      `check the TLSRoutes for ${host} (parents: the ServiceEntry and the Gateway ${suite}), the Gateway's Passthrough listener on 443, and "istioctl proxy-config listeners deploy/${gateway.serviceName} -n ${gateway.namespace}"`,
    unexpectedGatewayEntry: (scheme) =>
      scheme === 'http'
        ? 'if the gateway logged it, an HTTPRoute with this ServiceEntry as parent may already exist (another run?); if the request failed, check that the ServiceEntry exists and the host resolves from the cluster'
        : 'only HTTP on port 80 should be routed to the gateway in this setup; a TLSRoute with this ServiceEntry as parent would explain a gateway entry',
    plaintextAccepted: (port) =>
      `the Gateway's listener on ${port} must be HTTPS with tls.mode Terminate and the option gateway.istio.io/tls-terminate-mode: ISTIO_MUTUAL; check "istioctl proxy-config listeners" on the gateway for a plaintext filter chain on ${port}`,
    tlsTerminated: () =>
      "a listener with tls.mode Terminate ends the client's TLS; the Gateway's 443 listener must be protocol TLS with tls.mode Passthrough",
    otherSniRouted: ({ host }, gateway) =>
      `the Gateway's 443 listener must have hostname ${host} and the TLSRoute hostnames only ${host}; check "istioctl proxy-config listeners deploy/${gateway.serviceName} -n ${gateway.namespace} --port 443"`,
  },
};
