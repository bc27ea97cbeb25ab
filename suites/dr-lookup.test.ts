/**
 * B5 `dr-lookup`: a DestinationRule serves only clients whose lookup path holds it
 * (client namespace, destination namespace, root namespace). With the subset's rule
 * only in another namespace the client does not get through the gateway; with the
 * same rule in its own namespace it does. Spec: docs/behaviours.md B5.
 */
import { beforeAll, describe, it } from 'vitest';
import { conformanceSuite, type Client } from '../harness/suite.ts';
import {
  clientMustReachHost,
  requestMustNotReachHostThroughGateway,
} from '../harness/behaviours.ts';

const suite = conformanceSuite({ name: 'dr-lookup' });

describe('dr-lookup', () => {
  const env = suite.environment('n/a');
  let config: string;
  let client: Client;

  beforeAll(async () => {
    config = await env.createNamespace('config', { injection: false });
    await env.apply('passthrough/service-entry.yaml', config);
    await env.apply('passthrough/gateway.yaml', config);
    await env.apply('passthrough/destination-rule.yaml', config);
    await env.apply('passthrough/virtual-service.yaml', config);
    client = await env.deployClient(await env.createNamespace('client', { injection: true }));
  });

  it('B5.1 with the DestinationRule only in another namespace, the client does not get through the gateway', async () => {
    await requestMustNotReachHostThroughGateway('B5.1', env, client, { drNamespace: config });
  });

  it("B5.2 with the same DestinationRule in the client's namespace, the client gets the host's answer", async () => {
    await env.apply('passthrough/destination-rule.yaml', client.namespace);
    await clientMustReachHost('B5.2', env, client, {
      scheme: 'https',
      why: "the DestinationRule now sits in the client's namespace, the first place of its lookup path",
    });
  });
});

suite.cleanupTest();
