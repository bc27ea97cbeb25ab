/**
 * Certificates the simulated servers present: the external hosts' own (from their PEM),
 * and the Istio workload certificates of proxies (generated once per identity, signed
 * by a self-signed mesh root as istiod's default CA does). Rendered as curl's
 * `%{certs}` and openssl's chain listing would print them.
 */
import { memoized } from '../../harness/memo.ts';
import {
  X509Certificate,
  generateKeyPair,
  generateKeyPairSync,
  randomBytes,
  sign,
} from 'node:crypto';
import forge from 'node-forge';
import type { SimExternalHost } from '../types.ts';

/** One certificate of a presented chain, with what curl and openssl print about it. */
export interface PresentedCert {
  /** OpenSSL one-line form, e.g. `CN = host.example, O = Org`. Empty for Istio leaf certs. */
  subject: string;
  issuer: string;
  pem: string | undefined;
  dnsNames: string[];
  uris: string[];
  selfSigned: boolean;
  /** Further `name:value` lines of curl's certinfo, in curl's order (after Issuer, before the PEM). */
  details: [string, string][];
}

/** Who would accept the chain: public roots (curl's CA bundle), the mesh CA, or nobody by default. */
export type Trust = 'public' | 'mesh' | 'private';

/** What a TLS server presents. */
export interface ServerIdentity {
  chain: PresentedCert[];
  trust: Trust;
  /** For mesh identities: the SPIFFE ID in the leaf's URI SAN. */
  spiffe?: string;
}

/** The PEM blocks of a bundle, in order. */
export function pemBlocks(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function oneLine(name: string | undefined): string {
  // Node reports an empty name (Istio workload certificates) as undefined.
  return (name ?? '')
    .split('\n')
    .filter(Boolean)
    .map((part) => {
      const eq = part.indexOf('=');
      return eq > 0 ? `${part.slice(0, eq)} = ${part.slice(eq + 1)}` : part;
    })
    .join(', ');
}

/** ASN1_TIME_print's form: `Nov  4 22:00:00 2026 GMT`. */
function asn1Time(date: Date): string {
  const month = date.toUTCString().slice(8, 11);
  const day = String(date.getUTCDate()).padStart(2, ' ');
  const time = date.toISOString().slice(11, 19);
  return `${month} ${day} ${time} ${date.getUTCFullYear()} GMT`;
}

function splitSan(san: string | undefined): { dns: string[]; uris: string[] } {
  const dns: string[] = [];
  const uris: string[] = [];
  for (const entry of (san ?? '').split(/,\s*/)) {
    if (entry.startsWith('DNS:')) dns.push(entry.slice(4).toLowerCase());
    else if (entry.startsWith('URI:')) uris.push(entry.slice(4));
  }
  return { dns, uris };
}

/**
 * Parses one PEM certificate into what clients print about it. Kept by PEM: an external host
 * presents the same chain to every TLS request through the mesh, and parsing it each time was
 * a visible share of an upgrade run's CPU (its probes make several requests a second). Callers
 * only read what comes back; bounded, as a long-lived process serves many clusters.
 */
export const certFromPem = memoized(parseCertificate, 256);

function parseCertificate(pem: string): PresentedCert {
  const cert = new X509Certificate(pem);
  const { dns, uris } = splitSan(cert.subjectAltName);
  const keyType = cert.publicKey.asymmetricKeyType;
  const rsa = keyType === 'rsa' || keyType === 'rsa-pss';
  const details: [string, string][] = [
    ['Version', '2'],
    ['Serial Number', cert.serialNumber.toLowerCase()],
    ['Signature Algorithm', rsa ? 'sha256WithRSAEncryption' : 'ecdsa-with-SHA256'],
    ['Public Key Algorithm', rsa ? 'rsaEncryption' : 'id-ecPublicKey'],
  ];
  if (cert.subjectAltName) details.push(['X509v3 Subject Alternative Name', cert.subjectAltName]);
  details.push(['X509v3 Basic Constraints', cert.ca ? 'critical, CA:TRUE' : 'CA:FALSE']);
  details.push(['Start date', asn1Time(new Date(cert.validFrom))]);
  details.push(['Expire date', asn1Time(new Date(cert.validTo))]);
  const bits = cert.publicKey.asymmetricKeyDetails?.modulusLength;
  if (rsa && bits) details.push(['RSA Public Key', String(bits)]);
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    pem: cert.toString().trim(),
    dnsNames: dns,
    uris,
    selfSigned: (cert.subject ?? '') === (cert.issuer ?? '') && cert.checkIssued(cert),
    details,
  };
}

/** `x` as OpenSSL prints a name: already `K = v` forms pass through, bare names become `CN = x`. */
function asName(value: string): string {
  return value.includes('=') ? value : `CN = ${value}`;
}

/** The chain an external host presents on 443: its PEM bundle, or a description from its names. */
export function externalIdentity(host: SimExternalHost): ServerIdentity {
  const trust: Trust = host.mode === 'internet' ? 'public' : 'private';
  const blocks = host.certificatePem ? pemBlocks(host.certificatePem) : [];
  if (blocks.length > 0) return { chain: blocks.map(certFromPem), trust };
  const subject = asName(host.subjectCN);
  const issuer = asName(host.issuerCN);
  return {
    chain: [
      {
        subject,
        issuer,
        pem: undefined,
        dnsNames: [host.name.toLowerCase()],
        uris: [],
        selfSigned: subject === issuer,
        details: [['X509v3 Subject Alternative Name', `DNS:${host.name}`]],
      },
    ],
    trust,
  };
}

/** A key pair: the public half for forge's certificate builder, the private half as PEM for Node. */
interface KeyPair {
  publicKey: forge.pki.PublicKey;
  privatePem: string;
}

interface Root {
  cert: forge.pki.Certificate;
  privatePem: string;
}

/** Generated mesh roots and workload certificates, shared by all models of the process. */
const ROOTS = new Map<string, Root>();
const LEAVES = new Map<string, ServerIdentity>();
/** Keys generated ahead of use on libuv's thread pool, so issuing does not stall the event loop. */
const SPARE_KEYS: KeyPair[] = [];
let warming = 0;

function toKeyPair(publicPem: string, privatePem: string): KeyPair {
  return { publicKey: forge.pki.publicKeyFromPem(publicPem), privatePem };
}

const KEY_OPTIONS = {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
} as const;

function takeKeyPair(): KeyPair {
  const spare = SPARE_KEYS.pop();
  if (spare) return spare;
  // Node's native generation: forge's pure-JS RSA keygen takes seconds.
  const pair = generateKeyPairSync('rsa', KEY_OPTIONS);
  return toKeyPair(pair.publicKey, pair.privateKey);
}

/**
 * The one key pair of every workload certificate. The model tells workloads apart by their
 * certificates' URI SAN (and istiod's real workload keys are never compared by anything the
 * suites read), so a key of its own per identity bought nothing: each run issues dozens of
 * identities, and their 2048-bit keys were a sixth of a failing run's CPU (0.64 s of 3.8 s).
 */
let workloadKeys: KeyPair | undefined;

/** Signs with Node's native RSA (forge's pure-JS signing blocks for tens of milliseconds). */
function signNatively(cert: forge.pki.Certificate, privatePem: string): void {
  cert.signatureOid = forge.pki.oids.sha256WithRSAEncryption ?? '1.2.840.113549.1.1.11';
  cert.siginfo.algorithmOid = cert.signatureOid;
  const builder = forge.pki as unknown as {
    getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1;
  };
  cert.tbsCertificate = builder.getTBSCertificate(cert);
  const der = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
  cert.signature = sign('sha256', der, privatePem).toString('binary');
}

/** Issues the mesh CA and workload certificates, once per trust domain and identity. */
export class MeshCertificates {
  /** Starts generating `count` keys in the background: the workload key and a mesh root's. */
  static warm(count = 2): void {
    const wanted = count - SPARE_KEYS.length - warming;
    for (let i = 0; i < wanted; i++) {
      warming += 1;
      generateKeyPair('rsa', KEY_OPTIONS, (error, publicPem, privatePem) => {
        warming -= 1;
        if (!error) SPARE_KEYS.push(toKeyPair(publicPem, privatePem));
      });
    }
  }

  /** The workload identity of a proxy, as istiod's self-signed CA would issue it. */
  identity(trustDomain: string, namespace: string, serviceAccount: string): ServerIdentity {
    const spiffe = `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
    const cached = LEAVES.get(spiffe);
    if (cached) return cached;
    const root = this.root(trustDomain);
    const leafKeys = (workloadKeys ??= takeKeyPair());
    const leaf = forge.pki.createCertificate();
    leaf.publicKey = leafKeys.publicKey;
    leaf.serialNumber = randomSerial();
    leaf.validity.notBefore = new Date(Date.now() - 60_000);
    leaf.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
    // Istio workload certificates have an empty subject; the identity is the URI SAN.
    leaf.setSubject([]);
    leaf.setIssuer(root.cert.subject.attributes);
    leaf.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      { name: 'subjectAltName', critical: true, altNames: [{ type: 6, value: spiffe }] },
    ]);
    signNatively(leaf, root.privatePem);
    const identity: ServerIdentity = {
      chain: [
        certFromPem(forge.pki.certificateToPem(leaf)),
        certFromPem(forge.pki.certificateToPem(root.cert)),
      ],
      trust: 'mesh',
      spiffe,
    };
    LEAVES.set(spiffe, identity);
    return identity;
  }

  private root(trustDomain: string): Root {
    const cached = ROOTS.get(trustDomain);
    if (cached) return cached;
    const keys = takeKeyPair();
    const cert = forge.pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = randomSerial();
    cert.validity.notBefore = new Date(Date.now() - 3600_000);
    cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 24 * 3600_000);
    // istiod's self-signed root names only the trust domain as organisation.
    const name = [{ shortName: 'O', value: trustDomain }];
    cert.setSubject(name);
    cert.setIssuer(name);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, digitalSignature: true, critical: true },
    ]);
    signNatively(cert, keys.privatePem);
    const root = { cert, privatePem: keys.privatePem };
    ROOTS.set(trustDomain, root);
    return root;
  }
}

function randomSerial(): string {
  // A positive serial: clear the top bit so DER does not read it as negative.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

/** OpenSSL's verify result codes and texts that a client can meet here. */
export const VERIFY_TEXT: Record<number, string> = {
  0: 'ok',
  18: 'self-signed certificate',
  19: 'self-signed certificate in certificate chain',
  20: 'unable to get local issuer certificate',
};

/** What OpenSSL's chain verification reports for a client with the given trust store. */
export function verifyResult(server: ServerIdentity, trusts: Trust): number {
  if (server.trust === trusts) return 0;
  if (server.chain.length === 1 && server.chain[0]?.selfSigned) return 18;
  if (server.chain.some((cert) => cert.selfSigned)) return 19;
  return 20;
}

function dnsNameMatches(pattern: string, host: string): boolean {
  if (pattern === host) return true;
  if (!pattern.startsWith('*.')) return false;
  const rest = host.slice(host.indexOf('.') + 1);
  return host.includes('.') && rest === pattern.slice(2);
}

/** Whether the leaf certificate names `host` (SAN DNS entries, else the subject CN). */
export function certificateNamesHost(server: ServerIdentity, host: string): boolean {
  const leaf = server.chain[0];
  if (!leaf) return false;
  const wanted = host.toLowerCase();
  if (leaf.dnsNames.length > 0) return leaf.dnsNames.some((name) => dnsNameMatches(name, wanted));
  const cn = /(?:^|, )CN = ([^,]+)/.exec(leaf.subject)?.[1]?.toLowerCase();
  return cn !== undefined && dnsNameMatches(cn, wanted);
}

/** curl's `%{certs}`: per certificate its certinfo lines, the PEM in place of the `Cert:` line. */
export function renderCurlCertinfo(chain: PresentedCert[]): string {
  let out = '';
  for (const cert of chain) {
    out += `Subject:${cert.subject}\nIssuer:${cert.issuer}\n`;
    for (const [name, value] of cert.details) out += `${name}:${value}\n`;
    if (cert.pem) out += `${cert.pem}\n`;
  }
  return out;
}
