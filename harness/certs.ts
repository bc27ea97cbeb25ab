/**
 * X.509 certificates for the local stand-ins: the simulated API server's TLS and the
 * made-up external host. Built with node-forge so that names, SANs and key usages are
 * exactly what we ask for, with no dependency on an `openssl` binary.
 */
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';

/** A certificate and its private key, both PEM. */
export interface CertificateAndKey {
  certPem: string;
  keyPem: string;
}

/** A certificate authority that can issue leaf certificates with `issueCertificate`. */
export type CertificateAuthority = CertificateAndKey;

/** What the subject of a new CA looks like. */
export interface CertificateAuthorityOptions {
  commonName: string;
  organization?: string;
  /** Validity in days from now; one year unless told. */
  validityDays?: number;
}

/** What a new leaf certificate is for. */
export interface IssueCertificateOptions {
  commonName: string;
  organization?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** A client certificate (extKeyUsage clientAuth) instead of a server one. */
  client?: boolean;
  validityDays?: number;
}

/** The parts of a certificate a report or an assertion names. */
export interface CertificateSummary {
  /** Rendered like OpenSSL's oneline format, e.g. `O = org, CN = name`. */
  subject: string;
  issuer: string;
  /** SHA-256 of the DER, uppercase hex pairs joined by colons, as `openssl x509 -fingerprint` prints. */
  fingerprintSha256: string;
}

type KeyRole = 'authority' | 'leaf';

// RSA key generation is the slow part (tens to hundreds of ms each), and nothing here
// needs key diversity for security: every CA shares one key and every leaf shares
// another, generated on first use and kept for the life of the process.
const keyCache = new Map<KeyRole, forge.pki.rsa.KeyPair>();

function sharedKeyPair(role: KeyRole): forge.pki.rsa.KeyPair {
  let keys = keyCache.get(role);
  if (keys === undefined) {
    // Synchronous generation delegates to node:crypto when it is available.
    keys = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
    keyCache.set(role, keys);
  }
  return keys;
}

function subjectAttributes(
  commonName: string,
  organization?: string,
): forge.pki.CertificateField[] {
  const attributes: forge.pki.CertificateField[] = [];
  if (organization !== undefined) attributes.push({ shortName: 'O', value: organization });
  attributes.push({ shortName: 'CN', value: commonName });
  return attributes;
}

function randomSerial(): string {
  // A positive serial: clear the top bit of the first byte.
  const bytes = forge.random.getBytesSync(16);
  const first = (bytes.charCodeAt(0) & 0x7f) | 0x01;
  return forge.util.bytesToHex(String.fromCharCode(first) + bytes.slice(1));
}

function validity(certificate: forge.pki.Certificate, days: number): void {
  const now = Date.now();
  // Back-date a little so clocks that disagree by seconds do not reject a fresh cert.
  certificate.validity.notBefore = new Date(now - 60 * 60 * 1000);
  certificate.validity.notAfter = new Date(now + days * 24 * 60 * 60 * 1000);
}

/** Creates a self-signed CA certificate with its key. */
export function createCertificateAuthority(
  options: CertificateAuthorityOptions,
): CertificateAuthority {
  const keys = sharedKeyPair('authority');
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = keys.publicKey;
  certificate.serialNumber = randomSerial();
  validity(certificate, options.validityDays ?? 365);
  const subject = subjectAttributes(options.commonName, options.organization);
  certificate.setSubject(subject);
  certificate.setIssuer(subject);
  certificate.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  certificate.sign(keys.privateKey, forge.md.sha256.create());
  return {
    certPem: forge.pki.certificateToPem(certificate),
    keyPem: forge.pki.privateKeyToPem(keys.privateKey),
  };
}

/** Issues a server (or, with `client`, a client) certificate signed by `ca`. */
export function issueCertificate(
  ca: CertificateAuthority,
  options: IssueCertificateOptions,
): CertificateAndKey {
  const caCertificate = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = sharedKeyPair('leaf');
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = keys.publicKey;
  certificate.serialNumber = randomSerial();
  validity(certificate, options.validityDays ?? 365);
  certificate.setSubject(subjectAttributes(options.commonName, options.organization));
  certificate.setIssuer(caCertificate.subject.attributes);
  const altNames: { type: number; value?: string; ip?: string }[] = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(options.ipAddresses ?? []).map((ip) => ({ type: 7, ip })),
  ];
  const extensions: object[] = [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    options.client === true
      ? { name: 'extKeyUsage', clientAuth: true }
      : { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectKeyIdentifier' },
    {
      name: 'authorityKeyIdentifier',
      keyIdentifier: caCertificate.generateSubjectKeyIdentifier().getBytes(),
    },
  ];
  if (altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames });
  certificate.setExtensions(extensions);
  certificate.sign(caKey, forge.md.sha256.create());
  return {
    certPem: forge.pki.certificateToPem(certificate),
    keyPem: forge.pki.privateKeyToPem(keys.privateKey),
  };
}

function oneline(attributes: forge.pki.CertificateField[]): string {
  return attributes
    .map(
      (attribute) =>
        `${attribute.shortName ?? attribute.name ?? attribute.type ?? '?'} = ${String(attribute.value)}`,
    )
    .join(', ');
}

/** Subject, issuer and fingerprint of the first certificate in `pem`. */
export function certificateSummary(pem: string): CertificateSummary {
  const certificate = forge.pki.certificateFromPem(pem);
  return {
    subject: oneline(certificate.subject.attributes),
    issuer: oneline(certificate.issuer.attributes),
    fingerprintSha256: new X509Certificate(pem).fingerprint256,
  };
}
