/**
 * Builds the curl command a client pod runs, and parses what it printed. It relies on
 * curl's structured write-out (`%{json}`, `%{certs}`) rather than scraping `-v`, whose
 * wording changes between curl releases.
 */

/** Separates the response (headers and body) from curl's write-out in stdout. */
export const WRITE_OUT_MARKER = '@@egress-conformance-writeout@@';
/** Separates the write-out JSON from the certificate chain (`%{certs}`). */
export const CERTS_MARKER = '@@egress-conformance-certs@@';

export interface CurlRequest {
  url: string;
  /** Bounds the whole transfer; a blocked connection must end as exit 28, not hang. */
  maxTimeSeconds: number;
  headers?: Record<string, string>;
  /** Skip certificate verification; the test compares the presented chain itself. */
  insecure?: boolean;
  /** `--resolve host:port:address`, for reaching a gateway service by IP with a Host header. */
  resolve?: string[];
  /**
   * `--connect-to host:port:target:port`: connect to `target` while keeping the URL's
   * host for SNI and Host, e.g. to offer the gateway a chosen SNI.
   */
  connectTo?: string[];
}

/** The argv for `curl` in the client container. */
export function curlCommand({
  url,
  maxTimeSeconds,
  headers = {},
  insecure = false,
  resolve = [],
  connectTo = [],
}: CurlRequest): string[] {
  const argv = ['curl', '-sS', '--max-time', String(maxTimeSeconds), '-D', '-'];
  if (insecure) argv.push('-k');
  for (const entry of resolve) argv.push('--resolve', entry);
  for (const entry of connectTo) argv.push('--connect-to', entry);
  for (const [name, value] of Object.entries(headers)) argv.push('-H', `${name}: ${value}`);
  // curl expands \n in -w itself; the markers make the split unambiguous whatever the body holds.
  argv.push('-w', `\\n${WRITE_OUT_MARKER}%{json}\\n${CERTS_MARKER}\\n%{certs}`, url);
  return argv;
}

/** One certificate of the chain the server presented, from `%{certs}`. */
export interface PresentedCertificate {
  subject: string;
  issuer: string;
  pem?: string;
}

/** What a curl run observed, in the shape the suites assert on. */
export interface CurlResult {
  /** curl's exit code (0, 6 resolve, 7 connect, 28 timeout, 35 TLS, 52 empty reply, 56 reset, 60 cert). */
  exitCode: number;
  /** curl's own error message, if any. */
  error: string;
  /** HTTP status, 0 when no response arrived. */
  status: number;
  /** Response headers, lower-cased names; the last header block when there were several. */
  headers: Record<string, string>;
  body: string;
  remoteIp: string;
  remotePort: number;
  scheme: string;
  /** 0 when the chain verified (meaningless with -k). */
  sslVerifyResult: number | undefined;
  certificates: PresentedCertificate[];
  /** The whole write-out object, for evidence in failure messages. */
  writeOut: Record<string, unknown>;
}

/** Parses curl's stdout/stderr/exit code as produced by {@link curlCommand}. */
export function parseCurlOutput(stdout: string, stderr: string, exitCode: number): CurlResult {
  const markerAt = stdout.lastIndexOf(WRITE_OUT_MARKER);
  const response = markerAt >= 0 ? stdout.slice(0, markerAt).replace(/\n$/, '') : stdout;
  const tail = markerAt >= 0 ? stdout.slice(markerAt + WRITE_OUT_MARKER.length) : '';
  const certsAt = tail.indexOf(CERTS_MARKER);
  const jsonText = (certsAt >= 0 ? tail.slice(0, certsAt) : tail).trim();
  const certsText = certsAt >= 0 ? tail.slice(certsAt + CERTS_MARKER.length) : '';

  let writeOut: Record<string, unknown> = {};
  if (jsonText) {
    try {
      writeOut = JSON.parse(jsonText) as Record<string, unknown>;
    } catch {
      writeOut = { unparsed: jsonText };
    }
  }
  const { headers, body } = splitResponse(response);
  const stderrError = stderr.match(/curl: \(\d+\) (.*)/)?.[1]?.trim() ?? '';
  return {
    exitCode: typeof writeOut.exitcode === 'number' ? writeOut.exitcode : exitCode,
    error: (typeof writeOut.errormsg === 'string' && writeOut.errormsg) || stderrError,
    status: Number(writeOut.http_code ?? writeOut.response_code ?? 0) || 0,
    headers,
    body,
    remoteIp: typeof writeOut.remote_ip === 'string' ? writeOut.remote_ip : '',
    remotePort: Number(writeOut.remote_port ?? 0) || 0,
    scheme: typeof writeOut.scheme === 'string' ? writeOut.scheme.toLowerCase() : '',
    sslVerifyResult:
      typeof writeOut.ssl_verify_result === 'number' ? writeOut.ssl_verify_result : undefined,
    certificates: parseCertChain(certsText),
    writeOut,
  };
}

/** Splits `-D -` output: header blocks (a 100-continue may precede the final one), then the body. */
function splitResponse(response: string): { headers: Record<string, string>; body: string } {
  let rest = response;
  let headers: Record<string, string> = {};
  while (/^HTTP\/[\d.]+ \d{3}/.test(rest)) {
    const end = rest.search(/\r?\n\r?\n/);
    const block = end >= 0 ? rest.slice(0, end) : rest;
    rest = end >= 0 ? rest.slice(end).replace(/^\r?\n\r?\n/, '') : '';
    headers = {};
    for (const line of block.split(/\r?\n/).slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0)
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
  }
  return { headers, body: rest };
}

/** Parses `%{certs}`: per certificate, `Subject:`, `Issuer:` and a `Cert:` PEM block, blank-line separated. */
export function parseCertChain(text: string): PresentedCertificate[] {
  const certs: PresentedCertificate[] = [];
  let current: PresentedCertificate | undefined;
  let pemLines: string[] | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.startsWith('Subject:')) {
      current = { subject: line.slice('Subject:'.length).trim(), issuer: '' };
      certs.push(current);
      pemLines = undefined;
    } else if (current && line.startsWith('Issuer:')) {
      current.issuer = line.slice('Issuer:'.length).trim();
    } else if (current && line.includes('-----BEGIN CERTIFICATE-----')) {
      pemLines = ['-----BEGIN CERTIFICATE-----'];
    } else if (current && pemLines) {
      pemLines.push(line.trim());
      if (line.includes('-----END CERTIFICATE-----')) {
        current.pem = pemLines.join('\n');
        pemLines = undefined;
      }
    }
  }
  return certs;
}

/** One line for failure messages: what the request ended as. */
export function describeCurlResult(result: CurlResult): string {
  if (result.exitCode !== 0)
    return `curl exit ${result.exitCode} (${result.error || 'no message'})`;
  const leaf = result.certificates[0];
  const cert = leaf ? `, certificate subject "${leaf.subject}" issuer "${leaf.issuer}"` : '';
  return `HTTP ${result.status} from ${result.remoteIp || '?'}:${result.remotePort}${cert}`;
}
