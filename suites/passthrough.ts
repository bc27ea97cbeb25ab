/**
 * B3 `passthrough`: TLS on 443 passes through the egress gateway by SNI, with its
 * variant where the sidecar wraps the client's TLS in Istio mTLS to the gateway.
 * Evidence: the client sees the external host's own certificate, the gateway logs a
 * TCP entry with SNI HOST and upstream `outbound|443||HOST`, and another SNI is not
 * routed to the host; negative control: no gateway entry before the routes exist.
 * Spec: docs/behaviours.md B3.
 */
import { defineSuite } from '../harness/suite-definition.ts';
import { clientWithServiceEntry, GATEWAY_ROUTES } from './common.ts';
import {
  clientMustSeeHostCertificate,
  otherSniMustNotReachHost,
  requestMustBypassGateway,
  requestMustLeaveThroughGateway,
} from '../harness/behaviours.ts';
import { istioClusterName } from '../harness/facts/envoy.ts';

export default defineSuite({
  name: 'passthrough',
  description:
    'TLS to an external host on port 443 passes through the egress gateway by SNI and ends at the host, with and without mutual TLS between sidecar and gateway (B3).',
  behaviours: ['B3', 'B6'],
  variants: { mtls: ['disabled', 'enabled'], api: ['istio-api', 'gateway-api'] },
  behaviour: () => 'B3',
  setup: clientWithServiceEntry,
  steps: [
    {
      id: 'control',
      title: 'without the VirtualService, TLS to the host leaves no gateway entry',
      run: ({ env, state, caseId }) =>
        requestMustBypassGateway(caseId, env, state.client, { scheme: 'https' }).then(() => {}),
    },
    GATEWAY_ROUTES,
    {
      id: '1',
      title: "TLS ends at the external host: the client sees the host's own certificate",
      run: ({ env, state, caseId }) => clientMustSeeHostCertificate(caseId, env, state.client),
    },
    {
      id: '2',
      title: 'the gateway logs a TCP entry with SNI HOST and upstream outbound|443||HOST',
      run: ({ env, state, caseId }) =>
        requestMustLeaveThroughGateway(caseId, env, state.client, {
          scheme: 'https',
          upstreamCluster: istioClusterName(443, env.host.name),
          requestedServerName: env.host.name,
        }).then(() => {}),
    },
    {
      id: '3',
      title: 'the gateway routes by SNI: TLS with another SNI is not passed to the host',
      // Sent straight to the gateway's 443 by a client without sidecar: with mTLS that port
      // speaks ISTIO_MUTUAL, and the case would fail for that reason instead.
      inVariant: (variant) => variant.mtls === 'disabled',
      async run({ env, caseId }) {
        const outside = await env.createNamespace('no-sidecar', { injection: false });
        await otherSniMustNotReachHost(caseId, env, await env.deployClient(outside));
      },
    },
  ],
});
