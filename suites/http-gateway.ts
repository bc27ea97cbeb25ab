/**
 * B1 `http-gateway`: HTTP to an external host on port 80 leaves the mesh through the
 * egress gateway; B2 is the same with Istio mTLS between sidecar and gateway.
 * Evidence: the host's own answer, the gateway's access-log entry for the request's
 * unique path with upstream `outbound|80||HOST`, 443 not redirected, and (B2) the
 * gateway refusing plaintext and carrying its own workload identity; negative control: no
 * gateway entry before the routes exist.
 * Spec: docs/behaviours.md B1, B2.
 */
import { defineSuite } from '../harness/suite-definition.ts';
import { clientWithServiceEntry, GATEWAY_ROUTES } from './common.ts';
import {
  clientMustReachHost,
  plaintextMustBeRefusedByGateway,
  requestMustBypassGateway,
  requestMustLeaveThroughGateway,
} from '../harness/behaviours.ts';
import { istioClusterName } from '../harness/facts/envoy.ts';
import { gatewayMustCarryIdentity } from '../harness/gateway-identity.ts';

export default defineSuite({
  name: 'http-gateway',
  description:
    'HTTP to an external host on port 80 leaves the mesh through the egress gateway, with and without mutual TLS between sidecar and gateway (B1, B2).',
  behaviours: ['B1', 'B2', 'B6'],
  variants: { mtls: ['disabled', 'enabled'], api: ['istio-api', 'gateway-api'] },
  behaviour: (variant) => (variant.mtls === 'enabled' ? 'B2' : 'B1'),
  setup: clientWithServiceEntry,
  steps: [
    {
      id: 'control',
      title: 'without the VirtualService, HTTP to the host leaves no gateway entry',
      run: ({ env, state, caseId }) =>
        requestMustBypassGateway(caseId, env, state.client, { scheme: 'http' }).then(() => {}),
    },
    GATEWAY_ROUTES,
    {
      id: '1',
      title: "HTTP to the host gets the external host's own answer",
      run: ({ env, state, caseId }) =>
        clientMustReachHost(caseId, env, state.client, {
          scheme: 'http',
          why: 'the route through the gateway must deliver the request to the external host itself',
        }),
    },
    {
      id: '2',
      title: 'the gateway logs the request with authority HOST and upstream outbound|80||HOST',
      run: ({ env, state, variant, caseId }) =>
        requestMustLeaveThroughGateway(caseId, env, state.client, {
          scheme: 'http',
          upstreamCluster: istioClusterName(80, env.host.name),
          ...(variant.mtls === 'enabled' ? { requestedServerName: env.host.name } : {}),
        }).then(() => {}),
    },
    {
      id: '3',
      title: 'HTTPS to the host on 443 is not redirected to the gateway',
      run: ({ env, state, caseId }) =>
        requestMustBypassGateway(caseId, env, state.client, { scheme: 'https' }).then(() => {}),
    },
    {
      id: '4',
      title: 'the gateway refuses plaintext on its ISTIO_MUTUAL port',
      inVariant: (variant) => variant.mtls === 'enabled',
      async run({ env, caseId }) {
        const outside = await env.createNamespace('no-sidecar', { injection: false });
        const bare = await env.deployClient(outside);
        await plaintextMustBeRefusedByGateway(caseId, env, bare, { port: env.api.mutualTlsPort });
      },
    },
    {
      id: '5',
      title:
        "the gateway's workload certificate carries spiffe://<trust domain>/ns/<namespace>/sa/<service account>",
      // The page's troubleshooting step for mutual TLS: the name sidecars verify under ISTIO_MUTUAL.
      inVariant: (variant) => variant.mtls === 'enabled',
      async run({ env, caseId, note }) {
        note(await gatewayMustCarryIdentity(caseId, env));
      },
    },
  ],
});
