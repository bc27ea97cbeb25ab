/**
 * B1 `http-gateway`: HTTP on port 80 leaves the mesh through the egress gateway, and B2,
 * its variant with mutual TLS between sidecar and gateway. Evidence: the external
 * host's own answer, the gateway's access-log entry with upstream `outbound|80||HOST`,
 * HTTPS on 443 not redirected; negative control: no gateway entry before the
 * VirtualService exists. Spec: docs/behaviours.md B1, B2.
 */
import { beforeAll, describe, it } from 'vitest';
import { conformanceSuite, type Client } from '../harness/suite.ts';
import {
  clientMustReachHost,
  requestMustBypassGateway,
  requestMustLeaveThroughGateway,
  plaintextMustBeRefusedByGateway,
} from '../harness/behaviours.ts';

const suite = conformanceSuite({ name: 'http-gateway' });

describe.each(suite.mtlsModes)('http-gateway [mtls %s]', (mtls) => {
  const env = suite.environment(mtls);
  const manifests = mtls === 'enabled' ? 'http-gateway/mtls' : 'http-gateway';
  const B = mtls === 'enabled' ? 'B2' : 'B1';
  let client: Client;
  let namespace: string;

  beforeAll(async () => {
    namespace = await env.createNamespace(mtls, { injection: true });
    client = await env.deployClient(namespace);
    await env.apply('http-gateway/service-entry.yaml', namespace);
  });

  it(`${B} negative control: without the VirtualService, HTTP to the host leaves no gateway entry`, async () => {
    await requestMustBypassGateway(`${B}.control`, env, client, { scheme: 'http' });
  });

  describe('with Gateway, DestinationRule and VirtualService applied', () => {
    beforeAll(async () => {
      await env.apply(`${manifests}/gateway.yaml`, namespace);
      await env.apply(`${manifests}/destination-rule.yaml`, namespace);
      await env.apply(`${manifests}/virtual-service.yaml`, namespace);
    });

    it(`${B}.1 HTTP to the host gets the external host's own answer`, async () => {
      await clientMustReachHost(`${B}.1`, env, client, {
        scheme: 'http',
        why: 'the route through the gateway must deliver the request to the external host itself',
      });
    });

    it(`${B}.2 the gateway logs the request with authority HOST and upstream outbound|80||HOST`, async () => {
      await requestMustLeaveThroughGateway(`${B}.2`, env, client, {
        scheme: 'http',
        upstreamCluster: `outbound|80||${env.host.name}`,
        ...(mtls === 'enabled' ? { requestedServerName: env.host.name } : {}),
      });
    });

    it(`${B}.3 HTTPS to the host on 443 is not redirected to the gateway`, async () => {
      await requestMustBypassGateway(`${B}.3`, env, client, { scheme: 'https' });
    });

    if (mtls === 'enabled') {
      it('B2.4 the gateway refuses plaintext on its ISTIO_MUTUAL port', async () => {
        const outside = await env.createNamespace('no-sidecar', { injection: false });
        const bare = await env.deployClient(outside);
        await plaintextMustBeRefusedByGateway('B2.4', env, bare, { port: 443 });
      });
    }
  });
});

suite.cleanupTest();
