import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { certificateSummary, createCertificateAuthority, issueCertificate } from './certs.ts';

describe('certificates', () => {
  it('issues a server certificate that a TLS client trusting the CA accepts', async () => {
    const ca = createCertificateAuthority({ commonName: 'test-ca', organization: 'egress' });
    const leaf = issueCertificate(ca, {
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    });

    const x509 = new X509Certificate(leaf.certPem);
    expect(x509.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(new X509Certificate(ca.certPem).ca).toBe(true);
    const caX509 = new X509Certificate(ca.certPem);
    expect(x509.verify(caX509.publicKey)).toBe(true);
    expect(caX509.verify(caX509.publicKey)).toBe(true);

    const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (socket) => {
      socket.end('hello');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const socket = tls.connect({ host: '127.0.0.1', port, ca: ca.certPem });
      await once(socket, 'secureConnect');
      expect(socket.authorized).toBe(true);
      const [data] = (await once(socket, 'data')) as [Buffer];
      expect(data.toString()).toBe('hello');
      socket.destroy();
    } finally {
      server.close();
    }
  });

  it('summarizes subject and issuer like curl %{certs}', () => {
    const ca = createCertificateAuthority({ commonName: 'Egress Test CA', organization: 'egress' });
    const leaf = issueCertificate(ca, { commonName: 'external.example', client: true });
    const summary = certificateSummary(leaf.certPem);
    expect(summary.subject).toBe('CN = external.example');
    expect(summary.issuer).toBe('O = egress, CN = Egress Test CA');
    expect(summary.fingerprintSha256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(certificateSummary(ca.certPem).subject).toBe(summary.issuer);
  });

  it('reuses keys so that issuing is fast after the first time', () => {
    createCertificateAuthority({ commonName: 'warm-up' });
    const started = performance.now();
    const ca = createCertificateAuthority({ commonName: 'second' });
    for (let i = 0; i < 3; i += 1) issueCertificate(ca, { commonName: `leaf-${i}` });
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
