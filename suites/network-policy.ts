/**
 * B4 `network-policy`: with the task's NetworkPolicy, a pod without sidecar cannot go
 * straight out while a pod with one still leaves through the egress gateway, whose
 * counter increases; the namespace labels the policy needs are restored exactly.
 * Spec: docs/behaviours.md B4.
 */
import { defineSuite } from '../harness/suite-definition.ts';
import { passthroughConfigNamespace } from './common.ts';
import {
  bareClientMustBeBlocked,
  clientMustReachHost,
  clusterMustHaveEgress,
  gatewayCounterMustIncrease,
} from '../harness/behaviours.ts';

export default defineSuite({
  name: 'network-policy',
  description:
    'With the NetworkPolicy of the task, a pod without sidecar cannot go straight out while a pod with one leaves through the gateway, whose counter increases (B4).',
  behaviours: ['B4', 'B6'],
  // The passthrough configuration without mTLS, as the task's NetworkPolicy step uses it.
  variants: { mtls: ['disabled'], api: ['istio-api', 'gateway-api'] },
  behaviour: () => 'B4',
  async setup({ env }) {
    // The passthrough config lives in its own namespace, as the task's lives in `default`.
    await passthroughConfigNamespace(env);
    const egress = await env.createNamespace('egress', { injection: false });
    return { egress, client: await env.deployClient(egress) };
  },
  steps: [
    {
      id: '1',
      title: 'baseline: a pod without sidecar reaches the host directly (else: environment error)',
      run: ({ env, state }) => clusterMustHaveEgress(env, state.client),
    },
    {
      id: '2-4',
      title: 'with the NetworkPolicy, a fresh pod without sidecar cannot reach the host',
      async run({ env, state }) {
        // The policy allows namespaces labelled istio=system: the gateway's, and istiod's
        // when the gateway runs elsewhere (the egress chart suggests its own namespace), or
        // the sidecars would lose their control plane.
        // With the Gateway API the gateway runs in the config's namespace, allowed by its own
        // label (gateway=true, the page's Gateway API tab).
        const labels = new Map<string, Record<string, string>>([
          [env.run.target.istio.namespace, { istio: 'system' }],
        ]);
        const gateway = env.gateway.namespace;
        labels.set(gateway, { ...labels.get(gateway), ...env.api.gatewayNamespaceLabels });
        for (const [namespace, values] of labels)
          await env.borrowNamespaceLabels(namespace, values);
        await env.borrowNamespaceLabels('kube-system', { 'kube-system': 'true' });
        await env.apply(env.config('network-policy.yaml'), state.egress);
        // Policies are decided for new pods: recreate the client after the policy exists.
        state.client = await env.recreateClient(state.client);
        await bareClientMustBeBlocked('B4.4', env, state.client);
      },
    },
    {
      id: '5',
      title: 'a pod with a sidecar in the same namespace gets out through the gateway',
      async run({ env, state, caseId }) {
        await env.enableInjection(state.egress);
        if (env.api.clientNeedsDestinationRule) {
          await env.apply(
            env.config('destination-rule.yaml', { suite: 'passthrough' }),
            state.egress,
          );
        }
        state.client = await env.recreateClient(state.client);
        if (!state.client.hasSidecar)
          throw new Error(`the recreated client ${state.client.pod} has no istio-proxy container`);
        await clientMustReachHost(caseId, env, state.client, {
          scheme: 'https',
          why: 'under the policy only istio-system (the gateway) is reachable, so an answer proves the gateway path; check the DestinationRule in this namespace and that istio-system carries istio=system',
        });
      },
    },
    {
      id: '6',
      title: 'the gateway counter for outbound|443||HOST increases with the requests',
      async run({ env, state, caseId, skip, note }) {
        note(await gatewayCounterMustIncrease(caseId, env, state.client, { skip }));
      },
    },
    {
      id: '7',
      title: 'the namespace labels are restored exactly',
      async run({ env }) {
        await env.restoreBorrowedLabels();
        await env.labelsMustBeRestored();
      },
    },
  ],
});
