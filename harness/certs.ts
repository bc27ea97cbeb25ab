/**
 * X.509 certificates for the local stand-ins: the simulated API server's TLS and the
 * made-up external host. Built with node-forge so that names, SANs and key usages are
 * exactly what we ask for, with no dependency on an `openssl` binary.
 */
import { generateKeyPairSync, sign, X509Certificate } from 'node:crypto';
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
interface SharedKey {
  publicKey: forge.pki.PublicKey;
  privateKeyPem: string;
}

const keyCache = new Map<KeyRole, SharedKey>();

function sharedKey(role: KeyRole): SharedKey {
  let key = keyCache.get(role);
  if (key === undefined) {
    const pair = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    key = { publicKey: forge.pki.publicKeyFromPem(pair.publicKey), privateKeyPem: pair.privateKey };
    keyCache.set(role, key);
  }
  return key;
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

/**
 * Signs with node:crypto rather than forge's pure-JS RSA, which takes tens of
 * milliseconds per certificate; the result is the same SHA-256 RSA signature.
 */
function signCertificate(certificate: forge.pki.Certificate, issuerKeyPem: string): void {
  const oid = forge.pki.oids.sha256WithRSAEncryption ?? '1.2.840.113549.1.1.11';
  certificate.signatureOid = oid;
  certificate.siginfo.algorithmOid = oid;
  // getTBSCertificate is part of forge's API but missing from @types/node-forge.
  const { getTBSCertificate } = forge.pki as unknown as {
    getTBSCertificate: (certificate: forge.pki.Certificate) => forge.asn1.Asn1;
  };
  const tbs = getTBSCertificate(certificate);
  const der = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
  certificate.signature = sign('sha256', der, issuerKeyPem).toString('binary');
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
  const key = sharedKey('authority');
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = key.publicKey;
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
  signCertificate(certificate, key.privateKeyPem);
  return { certPem: forge.pki.certificateToPem(certificate), keyPem: key.privateKeyPem };
}

/** Issues a server (or, with `client`, a client) certificate signed by `ca`. */
export function issueCertificate(
  ca: CertificateAuthority,
  options: IssueCertificateOptions,
): CertificateAndKey {
  const caCertificate = forge.pki.certificateFromPem(ca.certPem);
  const key = sharedKey('leaf');
  const certificate = forge.pki.createCertificate();
  certificate.publicKey = key.publicKey;
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
  signCertificate(certificate, ca.keyPem);
  return {
    certPem: forge.pki.certificateToPem(certificate),
    keyPem: key.privateKeyPem,
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
