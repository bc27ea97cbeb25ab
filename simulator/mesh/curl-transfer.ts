/**
 * Runs `curl` in a pod: each URL becomes a request through the simulated network, and
 * the reply is turned into what curl 8.11 (OpenSSL 3) prints: `-D -` headers, the body,
 * the write-out, `curl: (N) message` on stderr and the exit code. A request that would
 * time out returns at once, reporting the time curl would have waited.
 */
import { CLIENT_IMAGE } from '../../harness/versions.ts';
import type { ExecResult, KubeObject } from '../types.ts';
import type { ServerIdentity } from './certs.ts';
import { VERIFY_TEXT, certificateNamesHost, renderCurlCertinfo, verifyResult } from './certs.ts';
import { connectToOverride, openFromPod, resolveFromPod, resolveOverride } from './client.ts';
import type { MeshContext } from './context.ts';
import type { CurlOptions, TransferInfo } from './curl-cli.ts';
import { parseCurlArgs, renderWriteOut } from './curl-cli.ts';
import type { CurlConnections, OpenConnection } from './curl-connections.ts';
import { containerNamed, imageTag, isIpLiteral, podIp } from './k8s.ts';
import type { HttpRequest, HttpResponse, Payload, Reply } from './wire.ts';
import { headerValue } from './wire.ts';
import { externalServe } from './world.ts';

const OPENSSL = 'OpenSSL/3.3.2';
const CERT_HELP =
  'More details here: https://curl.se/docs/sslcerts.html\n\n' +
  'curl failed to verify the legitimacy of the server and therefore could not\n' +
  'establish a secure connection to it. To learn more about this situation and\n' +
  'how to fix it, please visit the webpage mentioned above.\n';

/** The curl version of the client image, e.g. `8.11.1` for `curlimages/curl:8.11.1`. */
export function curlVersionOf(pod: KubeObject, container: string): string {
  const tag = imageTag(containerNamed(pod, container));
  if (tag && /^\d+\.\d+\.\d+$/.test(tag)) return tag;
  return /:(\d+\.\d+\.\d+)$/.exec(CLIENT_IMAGE)?.[1] ?? '8.11.1';
}

function libcurlVersion(version: string): string {
  return `libcurl/${version} ${OPENSSL} zlib/1.3.1 brotli/1.1.0 zstd/1.5.6 c-ares/1.34.3 libidn2/2.3.7 libpsl/0.21.5 libssh2/1.11.1 nghttp2/1.64.0`;
}

/** One request/response exchange (one hop of a redirect chain). */
interface Hop {
  url: string;
  exitCode: number;
  error: string | undefined;
  response: HttpResponse | undefined;
  server: ServerIdentity | undefined;
  verify: number;
  remote: { ip: string; port: number } | undefined;
  localPort: number;
  ms: number;
  connects: number;
  /** `%{conn_id}`: the connection's id in the process's cache, -1 when none was made. */
  connId: number;
  request: HttpRequest | undefined;
  scheme: string | undefined;
}

function statusLine(response: HttpResponse): string {
  return response.protocol === 'HTTP/2'
    ? `HTTP/2 ${response.status} `
    : `HTTP/1.1 ${response.status} ${response.reason}`;
}

function headerBlock(response: HttpResponse): string {
  const lines = [
    statusLine(response),
    ...response.headers.map(([name, value]) => `${name}: ${value}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function buildRequest(
  options: CurlOptions,
  url: URL,
  host: string,
  port: number,
  version: string,
  method: string,
): HttpRequest {
  const defaultPort = url.protocol === 'https:' ? 443 : 80;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  let authority = port === defaultPort ? hostPart : `${hostPart}:${port}`;
  const headers: Record<string, string> = {
    'user-agent': options.userAgent ?? `curl/${version}`,
    accept: '*/*',
  };
  const body = method === 'HEAD' ? '' : (options.data ?? '');
  if (options.data !== undefined) {
    headers['content-length'] = String(body.length);
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  for (const raw of options.headers) {
    const colon = raw.indexOf(':');
    const semicolon = raw.indexOf(';');
    if (colon < 0 && semicolon > 0 && semicolon === raw.length - 1) {
      headers[raw.slice(0, -1).trim().toLowerCase()] = '';
      continue;
    }
    if (colon <= 0) continue;
    const name = raw.slice(0, colon).trim().toLowerCase();
    const value = raw.slice(colon + 1).trim();
    if (name === 'host') {
      if (value) authority = value;
      continue;
    }
    if (value === '') delete headers[name];
    else headers[name] = value;
  }
  return {
    method,
    path: `${url.pathname || '/'}${url.search}`,
    authority,
    protocol: 'HTTP/1.1',
    headers,
    body,
  };
}

function timedOut(
  ms: number,
  phase: 'connect' | 'tls' | 'transfer',
): { exitCode: number; error: string } {
  const after = Math.round(ms) + 2;
  if (phase === 'connect')
    return { exitCode: 28, error: `Connection timed out after ${after} milliseconds` };
  if (phase === 'tls') return { exitCode: 28, error: 'SSL connection timeout' };
  return {
    exitCode: 28,
    error: `Operation timed out after ${after} milliseconds with 0 bytes received`,
  };
}

/** Interprets what came back on the connection as curl does, for a plain or TLS request. */
function interpret(
  hop: Hop,
  reply: Reply,
  context: {
    tls: boolean;
    viaSidecar: boolean;
    host: string;
    port: number;
    insecure: boolean;
    maxMs: number;
    connectMs: number;
  },
): void {
  const delay = reply.delayMs ?? 0;
  if (reply.kind === 'timeout') {
    if (!context.viaSidecar) {
      const limit = Math.min(context.maxMs, context.connectMs);
      Object.assign(hop, timedOut(limit, 'connect'), { ms: limit });
      if (context.connectMs < context.maxMs) {
        hop.error = `Failed to connect to ${context.host} port ${context.port} after ${Math.round(limit) + 2} ms: Timeout was reached`;
      }
    } else {
      Object.assign(hop, timedOut(context.maxMs, context.tls ? 'tls' : 'transfer'), {
        ms: context.maxMs,
      });
    }
    return;
  }
  if (delay >= context.maxMs) {
    const phase = context.tls && reply.kind !== 'tls' ? 'tls' : 'transfer';
    Object.assign(hop, timedOut(context.maxMs, phase), { ms: context.maxMs });
    return;
  }
  hop.ms += delay;
  if (reply.kind === 'refused') {
    hop.exitCode = 7;
    hop.error = `Failed to connect to ${context.host} port ${context.port} after ${Math.round(hop.ms)} ms: Could not connect to server`;
    hop.connects = 0;
    return;
  }
  let inner: Reply | undefined = reply;
  if (context.tls) {
    switch (reply.kind) {
      case 'tls': {
        hop.server = reply.server;
        hop.verify = verifyResult(reply.server, 'public');
        if (!context.insecure) {
          if (hop.verify !== 0) {
            hop.exitCode = 60;
            hop.error = `SSL certificate problem: ${VERIFY_TEXT[hop.verify] ?? 'certificate verify failed'}`;
            hop.server = undefined;
            return;
          }
          if (!certificateNamesHost(reply.server, context.host)) {
            hop.exitCode = 60;
            hop.error = isIpLiteral(context.host)
              ? `SSL: no alternative certificate subject name matches target ipv4 address '${context.host}'`
              : `SSL: no alternative certificate subject name matches target host name '${context.host}'`;
            hop.server = undefined;
            return;
          }
        }
        inner = reply.inner;
        break;
      }
      case 'http':
        hop.exitCode = 35;
        hop.error = `${OPENSSL}: error:0A00010B:SSL routines::wrong version number`;
        return;
      case 'reset':
        hop.exitCode = 35;
        hop.error = 'Recv failure: Connection reset by peer';
        return;
      case 'tls-alert':
        hop.exitCode = 35;
        hop.error = `${OPENSSL}: error:0A00045C:SSL routines::${reply.alert}`;
        return;
      default:
        hop.exitCode = 35;
        hop.error = `OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to ${context.host}:${context.port} `;
        return;
    }
  }
  if (inner?.kind === 'http') {
    hop.response = inner.response;
    return;
  }
  if (inner?.kind === 'timeout') {
    Object.assign(hop, timedOut(context.maxMs, 'transfer'), { ms: context.maxMs });
    return;
  }
  if (inner?.kind === 'reset') {
    hop.exitCode = 56;
    hop.error = 'Recv failure: Connection reset by peer';
    return;
  }
  if (context.tls && inner?.kind === 'closed') {
    hop.exitCode = 56;
    hop.error = `OpenSSL SSL_read: ${OPENSSL}: error:0A000126:SSL routines::unexpected eof while reading, errno 0`;
    return;
  }
  hop.exitCode = 52;
  hop.error = 'Empty reply from server';
}

function transfer(
  ctx: MeshContext,
  pod: KubeObject,
  container: string,
  options: CurlOptions,
  urlText: string,
  method: string,
  version: string,
): Hop {
  const hop: Hop = {
    url: urlText,
    exitCode: 0,
    error: undefined,
    response: undefined,
    server: undefined,
    verify: 0,
    remote: undefined,
    localPort: 0,
    ms: 1,
    connects: 0,
    connId: -1,
    request: undefined,
    scheme: undefined,
  };
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(urlText) ? urlText : `http://${urlText}`;
  const scheme = withScheme.slice(0, withScheme.indexOf(':')).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') {
    hop.exitCode = 1;
    hop.error = `Protocol "${scheme}" not supported`;
    return hop;
  }
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    hop.exitCode = 3;
    hop.error = 'URL rejected: Malformed input to a URL function';
    return hop;
  }
  hop.url = url.href;
  hop.scheme = scheme;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = url.port ? Number(url.port) : scheme === 'https' ? 443 : 80;
  // --connect-to changes where curl connects, never the SNI or Host it sends.
  const target = connectToOverride(options.connectTo, host, port) ?? { host, port };
  const override = resolveOverride(options.resolve, target.host, target.port);
  const resolved = override
    ? { ok: true as const, ip: override }
    : resolveFromPod(ctx, pod, target.host);
  if (!resolved.ok) {
    hop.exitCode = 6;
    hop.error = `Could not resolve host: ${target.host}`;
    return hop;
  }
  const request = buildRequest(options, url, host, port, version, method);
  hop.request = request;
  const tls = scheme === 'https';
  const payload: Payload = tls
    ? {
        kind: 'tls',
        sni: isIpLiteral(host) ? undefined : host,
        alpn: ['h2', 'http/1.1'],
        istioMutual: false,
        inner: { kind: 'http', request },
      }
    : { kind: 'http', request };
  hop.remote = { ip: resolved.ip, port: target.port };
  // A curl process reuses its open connection (CURL_CONNECTION_REUSE); a new exec is a new process.
  const cache = ctx.connections;
  const key = `${scheme}://${resolved.ip}:${target.port}`;
  const reused = cache?.reusable(key);
  let reply: Reply;
  let viaSidecar: boolean;
  if (reused?.opaque && reused.path.external) {
    // On an established TLS tunnel the proxies only relay bytes: the far end answers, nothing
    // is routed or logged again (Envoy logs a TCP connection when it closes).
    reply = externalServe(reused.path.external.host, reused.path.external.port, payload, ctx.now);
    viaSidecar = true;
    hop.localPort = reused.localPort;
  } else {
    if (!reused) cache?.opening();
    const connection = openFromPod(ctx, pod, container, hop.remote, payload);
    reply = connection.reply;
    viaSidecar = connection.viaSidecar;
    hop.localPort = reused?.localPort ?? connection.localPort;
  }
  hop.connects = reused ? 0 : 1;
  interpret(hop, reply, {
    tls,
    viaSidecar,
    host,
    port,
    insecure: options.insecure,
    maxMs: options.maxTimeSeconds !== undefined ? options.maxTimeSeconds * 1000 : Infinity,
    connectMs:
      options.connectTimeoutSeconds !== undefined ? options.connectTimeoutSeconds * 1000 : 300_000,
  });
  if (hop.exitCode === 28 && !Number.isFinite(hop.ms)) {
    // Without --max-time curl would wait until killed; report the kernel's give-up instead.
    hop.exitCode = 7;
    hop.ms = 133_000;
    hop.error = `Failed to connect to ${host} port ${port} after ${hop.ms} ms: Could not connect to server`;
  }
  hop.connId = reused ? reused.id : hop.connects > 0 ? (cache?.nextId() ?? 0) : -1;
  if (cache) keepOrClose(cache, hop, { key, opaque: tls, path: reused?.path ?? cache.trace });
  return hop;
}

/** After a transfer: curl keeps the connection unless it failed or either side said `close`. */
function keepOrClose(
  cache: CurlConnections,
  hop: Hop,
  connection: Pick<OpenConnection, 'key' | 'opaque' | 'path'>,
): void {
  const close = (value: string | undefined): boolean => value?.toLowerCase() === 'close';
  const closing =
    close(hop.request?.headers.connection) ||
    (hop.response !== undefined && close(headerValue(hop.response, 'connection')));
  if (hop.exitCode === 0 && hop.connId >= 0 && !closing) {
    cache.keep({ ...connection, id: hop.connId, localPort: hop.localPort });
  } else {
    cache.close();
  }
}

/** curl's phase timestamps, consistent with each other and with the reported total. */
function timings(
  last: Hop,
  totalMs: number,
  answered: boolean,
): Pick<
  TransferInfo,
  | 'timeNamelookup'
  | 'timeConnect'
  | 'timeAppconnect'
  | 'timePretransfer'
  | 'timeStarttransfer'
  | 'timeTotal'
> {
  const lookup = 0.000_9;
  const connect = last.remote ? lookup + 0.000_5 : 0;
  const appconnect = last.server ? connect + 0.003_4 : 0;
  const pretransfer = last.remote ? Math.max(connect, appconnect) + 0.000_1 : 0;
  const total = Math.max(totalMs / 1000, pretransfer + 0.000_2);
  return {
    timeNamelookup: lookup,
    timeConnect: connect,
    timeAppconnect: appconnect,
    timePretransfer: pretransfer,
    timeStarttransfer: answered ? total - 0.000_1 : 0,
    timeTotal: total,
  };
}

function progressMeter(bytes: number, seconds: number): string {
  const header =
    '  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n' +
    '                                 Dload  Upload   Total   Spent    Left  Speed\n';
  const speed = seconds > 0 ? Math.round(bytes / seconds) : 0;
  const pct = bytes > 0 ? '100' : '  0';
  const line = `\r${pct}  ${String(bytes).padStart(4)}  ${pct}  ${String(bytes).padStart(4)}    0     0  ${String(speed).padStart(5)}      0 --:--:-- --:--:-- --:--:-- ${String(speed).padStart(5)}\n`;
  return header + line;
}

function verboseLines(hop: Hop): string {
  const lines: string[] = [];
  if (hop.remote) {
    lines.push(`*   Trying ${hop.remote.ip}:${hop.remote.port}...`);
    if (hop.exitCode !== 7 && !(hop.exitCode === 28 && hop.error?.startsWith('Connection'))) {
      lines.push(
        `* Connected to ${hop.request?.authority ?? hop.remote.ip} (${hop.remote.ip}) port ${hop.remote.port}`,
      );
    }
  }
  if (hop.server) {
    lines.push('* SSL connection using TLSv1.3 / TLS_AES_256_GCM_SHA384 / x25519 / RSASSA-PSS');
    lines.push(`*  subject: ${hop.server.chain[0]?.subject ?? ''}`);
    lines.push(`*  issuer: ${hop.server.chain[0]?.issuer ?? ''}`);
  }
  if (hop.request && (hop.exitCode === 0 || hop.response)) {
    lines.push(
      `> ${hop.request.method} ${hop.request.path} HTTP/1.1`,
      `> Host: ${hop.request.authority}`,
    );
    // curl sends (and traces) its own headers in canonical case.
    for (const [name, value] of Object.entries(hop.request.headers)) {
      lines.push(
        `> ${name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase())}: ${value}`,
      );
    }
    lines.push('> ');
  }
  if (hop.response) {
    lines.push(`< ${statusLine(hop.response)}`);
    for (const [name, value] of hop.response.headers) lines.push(`< ${name}: ${value}`);
    lines.push('< ');
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/** Runs curl with `args` (argv without the program name) from `container` of `pod`. */
export function runCurl(
  ctx: MeshContext,
  pod: KubeObject,
  container: string,
  args: string[],
): ExecResult {
  const parsed = parseCurlArgs(args);
  if ('exitCode' in parsed) return { stdout: '', stderr: parsed.stderr, exitCode: parsed.exitCode };
  const options = parsed;
  const version = curlVersionOf(pod, container);
  let stdout = '';
  let stderr = '';
  let exitCode = 0;
  for (const url of options.urls) {
    let method =
      options.method ?? (options.head ? 'HEAD' : options.data !== undefined ? 'POST' : 'GET');
    const hops: Hop[] = [];
    let hop = transfer(ctx, pod, container, options, url, method, version);
    hops.push(hop);
    while (
      options.location &&
      hop.exitCode === 0 &&
      hop.response &&
      hop.response.status >= 300 &&
      hop.response.status < 400
    ) {
      const location = headerValue(hop.response, 'location');
      if (!location) break;
      if (hops.length > options.maxRedirs) {
        hop.exitCode = 47;
        hop.error = `Maximum (${options.maxRedirs}) redirects followed`;
        break;
      }
      if (hop.response.status !== 307 && hop.response.status !== 308 && method === 'POST')
        method = 'GET';
      hop = transfer(
        ctx,
        pod,
        container,
        options,
        new URL(location, hop.url).href,
        method,
        version,
      );
      hops.push(hop);
    }
    const last = hops[hops.length - 1] ?? hop;
    for (const each of hops) {
      if (options.verbose) stderr += verboseLines(each);
      if (!each.response) continue;
      const block = headerBlock(each.response);
      if (options.dumpHeader === '-') stdout += block;
      if (options.include || options.head) stdout += block;
    }
    const response = last.response;
    if (response && options.fail && response.status >= 400 && last.exitCode === 0) {
      last.exitCode = 22;
      last.error = `The requested URL returned error: ${response.status}`;
    } else if (response && !options.head && options.output === undefined) {
      stdout += response.body;
    }
    const totalMs = hops.reduce((sum, each) => sum + each.ms, 0);
    const certs = last.server ? renderCurlCertinfo(last.server.chain) : '';
    const headers: Record<string, string> = {};
    for (const [name, value] of response?.headers ?? []) headers[name] = value;
    const info: TransferInfo = {
      certs,
      numCerts: last.server?.chain.length ?? 0,
      contentType: response ? (headerValue(response, 'content-type') ?? null) : null,
      errormsg: last.exitCode === 0 ? null : (last.error ?? ''),
      exitcode: last.exitCode,
      httpCode: response?.status ?? 0,
      httpVersion: response ? (response.protocol === 'HTTP/2' ? '2' : '1.1') : '0',
      localIp: last.remote ? podIp(pod) : null,
      localPort: last.remote ? last.localPort : 0,
      method,
      numConnects: last.connects,
      connId: last.connId,
      numHeaders: response?.headers.length ?? 0,
      numRedirects: hops.length - 1,
      redirectUrl:
        response && response.status >= 300 && response.status < 400 && !options.location
          ? (headerValue(response, 'location') ?? null)
          : null,
      remoteIp: last.remote?.ip ?? null,
      remotePort: last.remote?.port ?? 0,
      scheme: last.scheme ?? null,
      sizeDownload: response && !options.head ? response.body.length : 0,
      sizeHeader: hops.reduce(
        (sum, each) => sum + (each.response ? headerBlock(each.response).length : 0),
        0,
      ),
      sizeRequest: last.request
        ? 60 +
          Object.entries(last.request.headers).reduce((s, [n, v]) => s + n.length + v.length + 4, 0)
        : 0,
      sslVerifyResult: last.server ? last.verify : 0,
      ...timings(last, totalMs, response !== undefined),
      url,
      urlEffective: last.url,
      headers,
    };
    if (!options.silent) stderr += progressMeter(info.sizeDownload, info.timeTotal);
    if (last.exitCode !== 0 && (!options.silent || options.showError)) {
      stderr += `curl: (${last.exitCode}) ${last.error ?? ''}\n`;
      if (last.exitCode === 60) stderr += CERT_HELP;
    }
    if (options.writeOut !== undefined) {
      const rendered = renderWriteOut(options.writeOut, info, libcurlVersion(version));
      stdout += rendered.stdout;
      stderr += rendered.stderr;
    }
    exitCode = last.exitCode;
  }
  return { stdout, stderr, exitCode };
}
