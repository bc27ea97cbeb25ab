/**
 * B5 `dr-lookup`: a DestinationRule outside the client's lookup path does not serve it
 * (no way through the gateway to the host); the same rule in the client's own namespace
 * does. Spec: docs/behaviours.md B5.
 */
import { defineSuite } from '../harness/suite-definition.ts';
import { passthroughConfigNamespace } from './common.ts';
import {
  clientMustReachHost,
  requestMustNotReachHostThroughGateway,
} from '../harness/behaviours.ts';

export default defineSuite({
  name: 'dr-lookup',
  description:
    "A DestinationRule outside the client's lookup path does not serve it; the same rule in the client's namespace does (B5).",
  behaviours: ['B5', 'B6'],
  // B5 uses the passthrough configuration without mTLS, so a broken HTTP upstream (B1's
  // fault) does not also fail it.
  variants: { mtls: ['disabled'], api: ['istio-api', 'gateway-api'] },
  behaviour: () => 'B5',
  async setup({ env }) {
    // The passthrough config lives in its own namespace, as the task's lives in `default`.
    const config = await passthroughConfigNamespace(env);
    const client = await env.deployClient(await env.createNamespace('client', { injection: true }));
    return { config, client };
  },
  steps: [
    {
      id: '1',
      title:
        'with the DestinationRule only in another namespace, the client does not get through the gateway',
      run: ({ env, state, caseId }) =>
        requestMustNotReachHostThroughGateway(caseId, env, state.client, {
          drNamespace: state.config,
        }),
    },
    {
      id: '2',
      title:
        "with the same DestinationRule in the client's namespace, the client gets the host's answer",
      async run({ env, state, caseId }) {
        await env.apply(
          env.config('destination-rule.yaml', { suite: 'passthrough' }),
          state.client.namespace,
        );
        await clientMustReachHost(caseId, env, state.client, {
          scheme: 'https',
          why: "the DestinationRule now sits in the client's namespace, the first place of its lookup path",
        });
      },
    },
  ],
});
