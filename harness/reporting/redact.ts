/**
 * Keeping secrets and oversized dumps out of the reports. Everything written under the
 * reports folder is uploaded as a CI artifact that outlives the cluster and is read by
 * people who never had its credentials, so redaction runs before anything is written.
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';

/** What replaces a secret value. */
export const REDACTED = '[REDACTED]';

/** Known secrets shorter than this are not replaced: they would shred ordinary text. */
const MIN_KNOWN_SECRET_LENGTH = 4;

/**
 * A key that names a credential (it ends with the word: `token`, `x-auth-token`,
 * `accessToken`, `client-key-data`; not `secretName`), its separator, and its value:
 * double-quoted, single-quoted or bare. The key starts where a run of key characters starts
 * (the lookbehind): tried from every position inside a long run (a base64 certificate in a
 * diagnostics dump), `[\w.-]*` rescanned the rest of the run each time, quadratic in its
 * length (measured: 660 ms for 50 kB); the matches are the same, as a key found inside a run
 * is found from the run's start too.
 */
const SECRET_KEY =
  /(["']?)(?<![\w.-])([\w.-]*(?:token|password|passwd|secret|client-key-data|client-certificate-data|api[-_]?key|private[-_]?key))\1(\s*[:=]\s*)(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s"',;}{[\]]+))/gi;

/** Values after a secret-looking key that are not secrets (flags, numbers, placeholders). */
const HARMLESS_VALUE = /^(?:|true|false|null|~|-?\d+(?:\.\d+)?|\[REDACTED[^\]]*\])$/i;

const AUTHORIZATION = /\b(Bearer|Basic)(\s+)[A-Za-z0-9\-._~+/]+=*/gi;
const JWT = /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const PEM_PRIVATE_KEY =
  /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g;
/** `-----BEGIN ` in base64, as kubeconfigs and Secrets carry PEM (`client-key-data`, `tls.key`). */
const BASE64_PEM = /LS0tLS1CRUdJTi[A-Za-z0-9+/]{20,}={0,2}/g;

/**
 * Removes credentials from `text`: bearer/basic authorization values, JWTs, PEM private
 * keys (plain or base64), values of token/password/secret/`client-key-data` keys in
 * YAML, JSON and flags, and every string of `known` (e.g. {@link secretsFromKubeconfig}).
 */
export function redactSecrets(text: string, known: readonly string[] = []): string {
  let out = text;
  // Longest first, so a secret that contains another is replaced whole.
  const exact = [...new Set(known)]
    .filter((secret) => secret.length >= MIN_KNOWN_SECRET_LENGTH)
    .sort((a, b) => b.length - a.length);
  for (const secret of exact) out = out.split(secret).join(REDACTED);
  out = out.replace(
    PEM_PRIVATE_KEY,
    (_match, kind: string) =>
      `-----BEGIN ${kind}PRIVATE KEY-----${REDACTED}-----END ${kind}PRIVATE KEY-----`,
  );
  out = out.replace(BASE64_PEM, (match) =>
    Buffer.from(match, 'base64').toString('latin1').includes('PRIVATE KEY') ? REDACTED : match,
  );
  out = out.replace(JWT, '[REDACTED JWT]');
  out = out.replace(AUTHORIZATION, (_match, scheme: string, space: string) =>
    [scheme, space, REDACTED].join(''),
  );
  out = out.replace(
    SECRET_KEY,
    (
      match,
      quote: string,
      key: string,
      separator: string,
      doubleQuoted?: string,
      singleQuoted?: string,
      bare?: string,
    ) => {
      const value = doubleQuoted ?? singleQuoted ?? bare ?? '';
      if (HARMLESS_VALUE.test(value)) return match;
      const valueQuote = doubleQuoted !== undefined ? '"' : singleQuoted !== undefined ? "'" : '';
      return `${quote}${key}${quote}${separator}${valueQuote}${REDACTED}${valueQuote}`;
    },
  );
  return out;
}

/**
 * Redacts one command line: the value of any flag named like a credential
 * (`--token X`, `--password=X`) and anything {@link redactSecrets} recognises.
 */
export function redactArgv(argv: readonly string[], known: readonly string[] = []): string[] {
  const credentialFlag = /^--?[\w-]*(?:token|password|passwd|secret|api[-_]?key|auth)[\w-]*$/i;
  return argv.map((arg, index) => {
    const previous = argv[index - 1];
    if (previous !== undefined && credentialFlag.test(previous) && !arg.startsWith('-'))
      return REDACTED;
    const inline = /^(--?[\w-]+)=(.*)$/s.exec(arg);
    if (inline?.[1] && credentialFlag.test(inline[1])) return `${inline[1]}=${REDACTED}`;
    return redactSecrets(arg, known);
  });
}

/**
 * The credentials of every user in a kubeconfig (token, client-key-data, password,
 * auth-provider tokens), to pass to {@link redactSecrets} as `known`.
 * An unreadable file gives none: redaction by pattern still applies.
 */
export async function secretsFromKubeconfig(kubeconfigPath: string): Promise<string[]> {
  let config: unknown;
  try {
    config = parse(await readFile(kubeconfigPath, 'utf8'));
  } catch {
    return [];
  }
  const users = (config as { users?: unknown } | null)?.users;
  if (!Array.isArray(users)) return [];
  const secrets: string[] = [];
  const add = (value: unknown): void => {
    if (typeof value === 'string' && value.trim()) secrets.push(value.trim());
  };
  for (const entry of users as { user?: Record<string, unknown> }[]) {
    const user = entry.user ?? {};
    for (const key of ['token', 'password', 'client-key-data']) add(user[key]);
    const provider = user['auth-provider'] as { config?: Record<string, unknown> } | undefined;
    for (const key of ['id-token', 'refresh-token', 'access-token', 'client-secret'])
      add(provider?.config?.[key]);
  }
  return secrets;
}

/**
 * Caps `text` at `maxBytes` (UTF-8), keeping its head and its tail around a
 * `[... truncated N bytes ...]` marker: the start says what the file is, the end
 * holds the moments just before the failure.
 */
export function capSize(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // The marker's own length depends on N; reserve room for the widest N.
  const reserve = Buffer.byteLength(`\n[... truncated ${bytes.length} bytes ...]\n`);
  const keep = Math.max(0, maxBytes - reserve);
  const headEnd = utf8Boundary(bytes, Math.floor(keep / 2));
  const tailStart = utf8Boundary(bytes, bytes.length - (keep - headEnd));
  const dropped = tailStart - headEnd;
  return (
    bytes.subarray(0, headEnd).toString('utf8') +
    `\n[... truncated ${dropped} bytes ...]\n` +
    bytes.subarray(tailStart).toString('utf8')
  );
}

/** Moves `index` forward to the start of a UTF-8 character, so no character is split. */
function utf8Boundary(bytes: Buffer, index: number): number {
  let at = Math.max(0, Math.min(bytes.length, index));
  while (at < bytes.length && ((bytes[at] ?? 0) & 0xc0) === 0x80) at += 1;
  return at;
}

/** Redacts, then caps: what every file under the reports folder goes through. */
export function sanitize(
  text: string,
  { known = [], maxBytes }: { known?: readonly string[]; maxBytes: number },
): string {
  return capSize(redactSecrets(text, known), maxBytes);
}
