/**
 * B7 `registry-only`: a Sidecar resource in the client's namespace with
 * `outboundTrafficPolicy.mode: REGISTRY_ONLY` makes the client's sidecar block a host
 * without ServiceEntry (HTTP: 502 from route `block_all`; TLS: reset by `BlackHoleCluster`,
 * both in the sidecar's own log), while the same host, once its ServiceEntry and the
 * gateway routes exist, leaves through the egress gateway with the gateway's evidence.
 * Namespace-scoped, so suites running beside it keep the mesh's policy. Negative control:
 * before the Sidecar exists the host answers. Spec: docs/behaviours.md B7.
 */
import { defineSuite } from '../harness/suite-definition.ts';
import type { RoutedState } from './common.ts';
import { requestMustBypassGateway, requestMustLeaveThroughGateway } from '../harness/behaviours.ts';
import { istioClusterName } from '../harness/facts/envoy.ts';
import {
  unregisteredHostMustBeBlocked,
  unregisteredHostMustBeReachable,
} from '../harness/registry-only.ts';

/** B1's configuration, borrowed from http-gateway: the host's ServiceEntry and its route via the gateway. */
const B1_CONFIGURATION = [
  'service-entry.yaml',
  'gateway.yaml',
  'destination-rule.yaml',
  'virtual-service.yaml',
];

export default defineSuite({
  name: 'registry-only',
  description:
    "With a Sidecar setting REGISTRY_ONLY in the client's namespace, a host without ServiceEntry is blocked by the client's sidecar while the host with its ServiceEntry leaves through the egress gateway (B7).",
  behaviours: ['B7', 'B6'],
  // The Sidecar does not change with mTLS to the gateway: B1's plain routing is enough.
  variants: { mtls: ['disabled'], api: ['istio-api'] },
  behaviour: () => 'B7',
  // The host is the suite's own: no ServiceEntry names it until the last stage.
  async setup({ env }): Promise<RoutedState> {
    const namespace = await env.createNamespace('client', { injection: true });
    return { namespace, client: await env.deployClient(namespace) };
  },
  steps: [
    {
      id: 'control',
      title: 'without the Sidecar resource, HTTP to the host without ServiceEntry gets its answer',
      async run({ env, state, caseId, skip }) {
        if (env.run.target.istio.outboundTrafficPolicy === 'REGISTRY_ONLY') {
          skip(
            'the mesh config sets outboundTrafficPolicy REGISTRY_ONLY (--outbound-policy registry-only or the cluster as installed): unknown hosts are blocked before the Sidecar exists, so there is no ALLOW_ANY baseline to contrast',
          );
        }
        await unregisteredHostMustBeReachable(caseId, env, state.client);
      },
    },
    {
      stage: 'with the Sidecar (outboundTrafficPolicy REGISTRY_ONLY) in the client namespace',
      async apply({ env, state }) {
        await env.apply(env.config('sidecar.yaml'), state.namespace);
      },
    },
    {
      id: '1',
      title: "HTTP to the host without ServiceEntry gets 502 from the client's sidecar (block_all)",
      run: ({ env, state, caseId }) =>
        unregisteredHostMustBeBlocked(caseId, env, state.client, {
          scheme: 'http',
          sidecar: `${state.namespace}/${env.suite}`,
        }),
    },
    {
      id: '2',
      title:
        "TLS to the host without ServiceEntry is reset by the client's sidecar (BlackHoleCluster)",
      run: ({ env, state, caseId }) =>
        unregisteredHostMustBeBlocked(caseId, env, state.client, {
          scheme: 'https',
          sidecar: `${state.namespace}/${env.suite}`,
        }),
    },
    {
      stage: 'with the ServiceEntry and the gateway routes of B1',
      async apply({ env, state }) {
        for (const file of B1_CONFIGURATION) {
          await env.apply(env.config(file, { suite: 'http-gateway' }), state.namespace);
        }
      },
    },
    {
      id: '3',
      title:
        'HTTP to the host with its ServiceEntry leaves through the gateway (outbound|80||HOST)',
      run: ({ env, state, caseId }) =>
        requestMustLeaveThroughGateway(caseId, env, state.client, {
          scheme: 'http',
          upstreamCluster: istioClusterName(80, env.host.name),
        }).then(() => {}),
    },
    {
      id: '4',
      title:
        'TLS to the host with its ServiceEntry reaches it again (443 is not routed to the gateway)',
      run: ({ env, state, caseId }) =>
        requestMustBypassGateway(caseId, env, state.client, { scheme: 'https' }).then(() => {}),
    },
  ],
});
