/**
 * A proxy's workload identity as Envoy holds it: the URI SANs of the certificate istiod's
 * CA issued it over SDS. Read from `config_dump` (the `SecretsConfigDump`'s active secret
 * `default`, whose certificate chain Envoy prints as base64 PEM and whose private key it
 * redacts), or, when a dump has no such secret, from the admin `certs` listing.
 *
 * Shapes: envoyproxy/envoy `api/envoy/admin/v3/config_dump_shared.proto`
 * (`SecretsConfigDump.dynamic_active_secrets[].secret`, a
 * `extensions.transport_sockets.tls.v3.Secret` with `tls_certificate.certificate_chain`)
 * and `api/envoy/admin/v3/certs.proto` (`Certificates.certificates[].cert_chain[]
 * .subject_alt_names[].uri`). Istio names the workload secret `default` and the root
 * `ROOTCA` (istio/istio `pkg/security/security.go`, `WorkloadKeyCertResourceName`,
 * `RootCertReqResourceName`; 1.27–1.31).
 */
import { X509Certificate } from 'node:crypto';

/** Istio's SDS resource name of the workload certificate. */
export const WORKLOAD_SECRET_NAME = 'default';

/** Where a proxy's identity was read, and the URI SANs found there. */
export interface ProxyIdentity {
  source: 'config_dump' | 'certs';
  /** URI SANs of the workload certificate (Istio puts exactly one SPIFFE ID there). */
  uris: string[];
}

type Json = Record<string, unknown>;

function record(value: unknown): Json {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** URI SANs of the first certificate of a PEM chain; empty when it does not parse. */
function leafUris(pem: string): string[] {
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!leaf) return [];
  try {
    const san = new X509Certificate(leaf).subjectAltName ?? '';
    return san
      .split(/,\s*/)
      .filter((entry) => entry.startsWith('URI:'))
      .map((entry) => entry.slice(4));
  } catch {
    return [];
  }
}

/** The workload certificate's URI SANs from `config_dump`, or undefined without that secret (or its certificate). */
export function identityFromConfigDump(text: string): ProxyIdentity | undefined {
  for (const config of list(record(parseJson(text)).configs)) {
    const dump = record(config);
    const type = typeof dump['@type'] === 'string' ? dump['@type'] : '';
    if (!type.endsWith('envoy.admin.v3.SecretsConfigDump')) continue;
    for (const entry of list(dump.dynamic_active_secrets)) {
      const secret = record(record(entry).secret);
      if ((record(entry).name ?? secret.name) !== WORKLOAD_SECRET_NAME) continue;
      const chain = record(record(secret.tls_certificate).certificate_chain);
      const pem =
        typeof chain.inline_bytes === 'string'
          ? Buffer.from(chain.inline_bytes, 'base64').toString('utf8')
          : typeof chain.inline_string === 'string'
            ? chain.inline_string
            : '';
      const uris = leafUris(pem);
      // A secret still warming (no certificate yet) says nothing: let the caller ask `certs`.
      return uris.length > 0 ? { source: 'config_dump', uris } : undefined;
    }
  }
  return undefined;
}

/** The URI SANs of the certificate chains Envoy's `certs` lists, or undefined if none. */
export function identityFromCerts(text: string): ProxyIdentity | undefined {
  const certificates = list(record(parseJson(text)).certificates);
  const uris = certificates.flatMap((certificate) =>
    list(record(certificate).cert_chain).flatMap((detail) =>
      list(record(detail).subject_alt_names)
        .map((san) => record(san).uri)
        .filter((uri): uri is string => typeof uri === 'string'),
    ),
  );
  return certificates.length > 0 ? { source: 'certs', uris: [...new Set(uris)] } : undefined;
}
