/**
 * B3 `passthrough`: TLS on 443 passes through the egress gateway by SNI, with its
 * variant where the sidecar wraps the client's TLS in Istio mTLS to the gateway.
 * Evidence: the client sees the external host's own certificate, the gateway logs a
 * TCP entry with SNI HOST and upstream `outbound|443||HOST`, and another SNI is not
 * routed to the host; negative control: no gateway entry before the VirtualService.
 * Spec: docs/behaviours.md B3.
 */
import { beforeAll, describe, it } from 'vitest';
import { conformanceSuite, type Client } from '../harness/suite.ts';
import {
  clientMustSeeHostCertificate,
  otherSniMustNotReachHost,
  requestMustBypassGateway,
  requestMustLeaveThroughGateway,
} from '../harness/behaviours.ts';

const suite = conformanceSuite({ name: 'passthrough' });

describe.each(suite.mtlsModes)('passthrough [mtls %s]', (mtls) => {
  const env = suite.environment(mtls);
  const manifests = mtls === 'enabled' ? 'passthrough/mtls' : 'passthrough';
  let client: Client;
  let namespace: string;

  beforeAll(async () => {
    namespace = await env.createNamespace(mtls, { injection: true });
    client = await env.deployClient(namespace);
    await env.apply('passthrough/service-entry.yaml', namespace);
  });

  it('B3 negative control: without the VirtualService, TLS to the host leaves no gateway entry', async () => {
    await requestMustBypassGateway('B3.control', env, client, { scheme: 'https' });
  });

  describe('with Gateway, DestinationRule and VirtualService applied', () => {
    beforeAll(async () => {
      await env.apply(`${manifests}/gateway.yaml`, namespace);
      await env.apply(`${manifests}/destination-rule.yaml`, namespace);
      await env.apply(`${manifests}/virtual-service.yaml`, namespace);
    });

    it("B3.1 TLS ends at the external host: the client sees the host's own certificate", async () => {
      await clientMustSeeHostCertificate('B3.1', env, client);
    });

    it('B3.2 the gateway logs a TCP entry with SNI HOST and upstream outbound|443||HOST', async () => {
      await requestMustLeaveThroughGateway('B3.2', env, client, {
        scheme: 'https',
        upstreamCluster: `outbound|443||${env.host.name}`,
        requestedServerName: env.host.name,
      });
    });

    if (mtls === 'disabled') {
      it('B3.3 the gateway routes by SNI: TLS with another SNI is not passed to the host', async () => {
        const outside = await env.createNamespace('no-sidecar', { injection: false });
        await otherSniMustNotReachHost('B3.3', env, await env.deployClient(outside));
      });
    }
  });
});

suite.cleanupTest();
