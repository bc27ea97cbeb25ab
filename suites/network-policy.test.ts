/**
 * B4 `network-policy`: with the task's NetworkPolicy, a pod without sidecar can no
 * longer go straight out, while a pod with a sidecar still leaves through the egress
 * gateway, whose counter for the upstream cluster increases; the namespace labels the
 * policy needs are restored exactly. Spec: docs/behaviours.md B4.
 */
import { beforeAll, describe, it } from 'vitest';
import { conformanceSuite, type Client } from '../harness/suite.ts';
import {
  bareClientMustBeBlocked,
  clientMustReachHost,
  clusterMustHaveEgress,
  gatewayCounterMustIncrease,
} from '../harness/behaviours.ts';

const suite = conformanceSuite({ name: 'network-policy' });

describe('network-policy', () => {
  const env = suite.environment('n/a');
  let egress: string;
  let client: Client;

  beforeAll(async () => {
    // The passthrough config lives in its own namespace, as the task's lives in `default`.
    const config = await env.createNamespace('config', { injection: false });
    await env.apply('passthrough/service-entry.yaml', config);
    await env.apply('passthrough/gateway.yaml', config);
    await env.apply('passthrough/destination-rule.yaml', config);
    await env.apply('passthrough/virtual-service.yaml', config);
    egress = await env.createNamespace('egress', { injection: false });
    client = await env.deployClient(egress);
  });

  it('B4.1 baseline: a pod without sidecar reaches the host directly (else: environment error)', async () => {
    await clusterMustHaveEgress(env, client);
  });

  it('B4.2-4 with the NetworkPolicy, a fresh pod without sidecar cannot reach the host', async () => {
    await env.borrowNamespaceLabels(env.run.target.istio.gateway.namespace, { istio: 'system' });
    await env.borrowNamespaceLabels('kube-system', { 'kube-system': 'true' });
    await env.apply('network-policy/network-policy.yaml', egress);
    // Policies are decided for new pods: recreate the client after the policy exists.
    client = await env.recreateClient(client);
    await bareClientMustBeBlocked('B4.4', env, client);
  });

  it('B4.5 a pod with a sidecar in the same namespace gets out through the gateway', async () => {
    await env.enableInjection(egress);
    await env.apply('passthrough/destination-rule.yaml', egress);
    client = await env.recreateClient(client);
    if (!client.hasSidecar)
      throw new Error(`the recreated client ${client.pod} has no istio-proxy container`);
    await clientMustReachHost('B4.5', env, client, {
      scheme: 'https',
      why: 'under the policy only istio-system (the gateway) is reachable, so an answer proves the gateway path; check the DestinationRule in this namespace and that istio-system carries istio=system',
    });
  });

  it('B4.6 the gateway counter for outbound|443||HOST increases with the requests', async (ctx) => {
    const counter = await gatewayCounterMustIncrease('B4.6', env, client, {
      skip: (note) => ctx.skip(note),
    });
    ctx.task.meta.egress = { ...ctx.task.meta.egress, notes: counter };
  });

  it('B4.7 the namespace labels are restored exactly', async () => {
    await env.restoreBorrowedLabels();
    await env.labelsMustBeRestored();
  });
});

suite.cleanupTest();
