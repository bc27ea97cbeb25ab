// One connection pool per cluster: requests through the typed clients reuse a TLS connection
// instead of a handshake each, unless an exec plugin may rotate the client certificate.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, issueCertificate } from '../certs.ts';
import { connect } from './client.ts';
import { writeKubeconfig } from '../testing/kubeconfig.ts';

const ca = createCertificateAuthority({ commonName: 'test-ca' });
const serving = issueCertificate(ca, { commonName: '127.0.0.1', ipAddresses: ['127.0.0.1'] });
let server: Server;
let handshakes = 0;
const REQUESTS = 12;

beforeAll(async () => {
  server = createServer({ cert: serving.certPem, key: serving.keyPem }, (_request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x' } }));
  });
  server.on('secureConnection', () => {
    handshakes += 1;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function kubeconfig(user: string): string {
  const { port } = server.address() as AddressInfo;
  return writeKubeconfig(
    `{server: "https://127.0.0.1:${port}", certificate-authority-data: ${Buffer.from(ca.certPem).toString('base64')}}`,
    user,
  );
}

async function handshakesFor(user: string): Promise<number> {
  const kube = connect({ kubeconfigPath: kubeconfig(user) });
  const before = handshakes;
  for (let index = 0; index < REQUESTS; index += 1) await kube.core.readNamespace({ name: 'x' });
  return handshakes - before;
}

describe('sharedConnections', () => {
  it('sends the requests of a token user over a pool of kept-alive TLS connections', async () => {
    // undici frees a connection a tick after its answer ends, so back-to-back requests may
    // open a second one; never one per request.
    expect(await handshakesFor('{token: t}')).toBeLessThanOrEqual(2);
  });

  it('keeps a connection per request when an exec plugin supplies the credentials', async () => {
    const credential = JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 't' },
    });
    const plugin = `{exec: {apiVersion: client.authentication.k8s.io/v1, command: echo, args: ['${credential}'], interactiveMode: Never}}`;
    expect(await handshakesFor(plugin)).toBe(REQUESTS);
  });
});
