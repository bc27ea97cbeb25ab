import { describe, expect, it } from 'vitest';
import { ConformanceFailure } from './errors.ts';
import { gatewayMustCarryIdentity } from './gateway-identity.ts';
import { unregisteredHostMustBeBlocked, unregisteredHostMustBeReachable } from './registry-only.ts';
import {
  CLIENT,
  HOST,
  connectionRefused,
  gatewayEntry,
  hostAnswer,
  lastPath,
  stubEnvironment,
} from './testing/stub-environment.ts';

const SIDECAR = 'egc-test-client/registry-only';

/** The client's sidecar blocking as Istio does: 502 from block_all, TLS closed by BlackHoleCluster. */
function blockingSidecar(): Parameters<typeof stubEnvironment>[0] {
  return {
    curl: (request) =>
      request.url.startsWith('http:')
        ? hostAnswer({ status: 502, headers: { server: 'envoy' }, body: '' })
        : hostAnswer({ exitCode: 35, error: 'SSL_ERROR_SYSCALL', status: 0, headers: {} }),
    clientProxyLog: (sent) =>
      sent.at(-1)?.url.startsWith('http:')
        ? [
            gatewayEntry({
              path: lastPath(sent),
              responseCode: 502,
              routeName: 'block_all',
              upstreamCluster: undefined,
            }),
          ]
        : [
            gatewayEntry({
              kind: 'tcp',
              requestedServerName: HOST,
              upstreamCluster: 'BlackHoleCluster',
              responseFlags: 'UH',
            }),
          ],
  };
}

async function failure(promise: Promise<unknown>): Promise<ConformanceFailure> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof ConformanceFailure))
    throw new Error(`expected a failure, got ${String(error)}`);
  return error;
}

describe('unregisteredHostMustBeBlocked', () => {
  it("passes on the sidecar's block_all 502 (HTTP) and BlackHoleCluster reset (TLS)", async () => {
    const env = stubEnvironment(blockingSidecar());
    await unregisteredHostMustBeBlocked('B7.1', env, CLIENT, { scheme: 'http', sidecar: SIDECAR });
    await unregisteredHostMustBeBlocked('B7.2', env, CLIENT, { scheme: 'https', sidecar: SIDECAR });
  });

  it('fails, naming the Sidecar, when the host still answers (the policy is not in force)', async () => {
    const env = stubEnvironment();
    const error = await failure(
      unregisteredHostMustBeBlocked('B7.1', env, CLIENT, { scheme: 'http', sidecar: SIDECAR }),
    );
    expect(error.reason).toContain(
      `the Sidecar ${SIDECAR} sets outboundTrafficPolicy REGISTRY_ONLY`,
    );
    expect(error.hint).toContain('block_all');
  });

  it('does not take a failure without the sidecar evidence, or an unreachable host, as a block', async () => {
    const silent = stubEnvironment({ curl: () => connectionRefused() });
    expect(
      (
        await failure(
          unregisteredHostMustBeBlocked('B7.2', silent, CLIENT, {
            scheme: 'https',
            sidecar: SIDECAR,
          }),
        )
      ).reason,
    ).toContain('logged nothing for it');
    const unresolved = stubEnvironment({
      curl: () =>
        hostAnswer({ exitCode: 6, error: 'Could not resolve host', status: 0, headers: {} }),
    });
    expect(
      (
        await failure(
          unregisteredHostMustBeBlocked('B7.1', unresolved, CLIENT, {
            scheme: 'http',
            sidecar: SIDECAR,
          }),
        )
      ).reason,
    ).toContain('did not resolve');
  });
});

describe('unregisteredHostMustBeReachable', () => {
  it("passes on the host's answer and fails when the sidecar blocks it already", async () => {
    await unregisteredHostMustBeReachable('B7.control', stubEnvironment(), CLIENT);
    const error = await failure(
      unregisteredHostMustBeReachable('B7.control', stubEnvironment(blockingSidecar()), CLIENT),
    );
    expect(error.observed).toContain('502');
  });
});

describe('gatewayMustCarryIdentity', () => {
  const dump = (uri: string): string =>
    JSON.stringify({
      configs: [
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
          dynamic_active_secrets: [
            { name: 'default', secret: { name: 'default', tls_certificate: {} } },
          ],
        },
      ],
      // No PEM here: the certs listing is the fallback the check reads.
      uri,
    });
  const certs = (uri: string): string =>
    JSON.stringify({ certificates: [{ cert_chain: [{ subject_alt_names: [{ uri }] }] }] });
  const expected = 'spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account';

  it("passes when the gateway's certificate names its service account in the mesh's trust domain", async () => {
    const env = stubEnvironment({
      gatewayAdmin: (path) => [
        { pod: 'gateway-1', text: path === 'certs' ? certs(expected) : '{"configs":[]}' },
      ],
    });
    expect(await gatewayMustCarryIdentity('B2.5', env)).toEqual({
      identity: expected,
      pods: ['gateway-1'],
    });
  });

  it('fails naming the part that differs', async () => {
    const wrong = 'spiffe://cluster.local/ns/istio-system/sa/default';
    const env = stubEnvironment({
      gatewayAdmin: (path) => [
        { pod: 'gateway-1', text: path === 'certs' ? certs(wrong) : dump(wrong) },
      ],
    });
    const error = await failure(gatewayMustCarryIdentity('B2.5', env));
    expect(error.reason).toContain(
      'service account default instead of istio-egressgateway-service-account',
    );
    expect(error.hint).toContain('istioctl proxy-config secret');
  });
});
