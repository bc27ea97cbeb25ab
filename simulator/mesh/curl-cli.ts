/**
 * curl's command line and its `--write-out` rendering (curl 8.11 semantics): the options
 * the suites and people debugging by hand use, and the variables of `-w`, including
 * `%{json}` with curl's key set and order and `%{certs}`.
 */

/** The options of one curl invocation. */
export interface CurlOptions {
  urls: string[];
  silent: boolean;
  showError: boolean;
  verbose: boolean;
  maxTimeSeconds: number | undefined;
  connectTimeoutSeconds: number | undefined;
  /** `-D FILE`: `-` is stdout; other files are written nowhere we can see. */
  dumpHeader: string | undefined;
  include: boolean;
  head: boolean;
  method: string | undefined;
  insecure: boolean;
  resolve: string[];
  /** `--connect-to HOST1:PORT1:HOST2:PORT2` entries. */
  connectTo: string[];
  headers: string[];
  writeOut: string | undefined;
  output: string | undefined;
  location: boolean;
  maxRedirs: number;
  fail: boolean;
  data: string | undefined;
  userAgent: string | undefined;
  noServerName: boolean;
}

/** A parse failure, with curl's exit code and message. */
export interface CurlUsageError {
  exitCode: number;
  stderr: string;
}

const HINT = "curl: try 'curl --help' or 'curl --manual' for more information\n";

const LONG_WITH_ARG = new Set([
  'max-time',
  'connect-timeout',
  'dump-header',
  'request',
  'resolve',
  'header',
  'write-out',
  'output',
  'max-redirs',
  'data',
  'data-raw',
  'data-binary',
  'data-ascii',
  'user-agent',
  'url',
  'cacert',
  'capath',
  'cert',
  'key',
  'retry',
  'retry-delay',
  'retry-max-time',
  'noproxy',
  'proxy',
  'user',
  'referer',
  'cookie',
  'connect-to',
  'interface',
  'local-port',
  'limit-rate',
  'expect100-timeout',
  'tls-max',
  'ciphers',
]);

const LONG_FLAGS = new Set([
  'silent',
  'show-error',
  'verbose',
  'include',
  'head',
  'insecure',
  'location',
  'fail',
  'fail-with-body',
  'http1.0',
  'http1.1',
  'http2',
  'http2-prior-knowledge',
  'ipv4',
  'ipv6',
  'compressed',
  'no-progress-meter',
  'no-buffer',
  'no-keepalive',
  'tlsv1.2',
  'tlsv1.3',
  'ssl-no-revoke',
  'globoff',
  'path-as-is',
  'no-sessionid',
  'tcp-nodelay',
  'show-headers',
]);

const SHORT_WITH_ARG = new Set([
  'm',
  'D',
  'H',
  'w',
  'o',
  'X',
  'd',
  'A',
  'u',
  'x',
  'e',
  'b',
  'c',
  'T',
  'F',
  'E',
  'K',
  'r',
  'U',
  'Y',
  'y',
  'z',
  'Q',
  't',
  'P',
  'C',
]);
const SHORT_FLAGS = new Set([
  's',
  'S',
  'k',
  'I',
  'i',
  'v',
  'L',
  'f',
  '4',
  '6',
  'N',
  '0',
  '2',
  '3',
  'n',
  'q',
  'g',
  'j',
  'l',
  'O',
  'R',
  'Z',
  '#',
  'G',
  'B',
  'p',
]);
const SHORT_TO_LONG: Record<string, string> = {
  s: 'silent',
  S: 'show-error',
  k: 'insecure',
  I: 'head',
  i: 'include',
  v: 'verbose',
  L: 'location',
  f: 'fail',
  m: 'max-time',
  D: 'dump-header',
  H: 'header',
  w: 'write-out',
  o: 'output',
  X: 'request',
  d: 'data',
  A: 'user-agent',
};

function apply(
  options: CurlOptions,
  name: string,
  value: string | undefined,
): CurlUsageError | undefined {
  const numberArg = (): number | CurlUsageError => {
    const parsed = Number(value);
    return Number.isFinite(parsed) && parsed >= 0
      ? parsed
      : {
          exitCode: 2,
          stderr: `curl: option --${name}: expected a proper numerical parameter\n${HINT}`,
        };
  };
  switch (name) {
    case 'silent':
      options.silent = true;
      break;
    case 'no-progress-meter':
      break;
    case 'show-error':
      options.showError = true;
      break;
    case 'verbose':
      options.verbose = true;
      break;
    case 'include':
    case 'show-headers':
      options.include = true;
      break;
    case 'head':
      options.head = true;
      break;
    case 'insecure':
      options.insecure = true;
      break;
    case 'location':
      options.location = true;
      break;
    case 'fail':
      options.fail = true;
      break;
    case 'max-time': {
      const parsed = numberArg();
      if (typeof parsed !== 'number') return parsed;
      options.maxTimeSeconds = parsed;
      break;
    }
    case 'connect-timeout': {
      const parsed = numberArg();
      if (typeof parsed !== 'number') return parsed;
      options.connectTimeoutSeconds = parsed;
      break;
    }
    case 'max-redirs': {
      const parsed = numberArg();
      if (typeof parsed !== 'number') return parsed;
      options.maxRedirs = parsed;
      break;
    }
    case 'dump-header':
      options.dumpHeader = value;
      break;
    case 'request':
      options.method = value;
      break;
    case 'resolve':
      if (value !== undefined) options.resolve.push(value);
      break;
    case 'connect-to':
      if (value !== undefined) options.connectTo.push(value);
      break;
    case 'header':
      if (value !== undefined) options.headers.push(value);
      break;
    case 'write-out':
      options.writeOut = value;
      break;
    case 'output':
      options.output = value;
      break;
    case 'data':
    case 'data-raw':
    case 'data-binary':
    case 'data-ascii':
      options.data = options.data === undefined ? (value ?? '') : `${options.data}&${value ?? ''}`;
      break;
    case 'user-agent':
      options.userAgent = value;
      break;
    case 'url':
      if (value !== undefined) options.urls.push(value);
      break;
    default:
      // Accepted and without effect in the simulation (TLS versions, retries, proxies unset…).
      break;
  }
  return undefined;
}

/** Parses curl's argv (without the program name) the way curl's getopt does. */
export function parseCurlArgs(args: string[]): CurlOptions | CurlUsageError {
  const options: CurlOptions = {
    urls: [],
    silent: false,
    showError: false,
    verbose: false,
    maxTimeSeconds: undefined,
    connectTimeoutSeconds: undefined,
    dumpHeader: undefined,
    include: false,
    head: false,
    method: undefined,
    insecure: false,
    resolve: [],
    connectTo: [],
    headers: [],
    writeOut: undefined,
    output: undefined,
    location: false,
    maxRedirs: 50,
    fail: false,
    data: undefined,
    userAgent: undefined,
    noServerName: false,
  };
  let onlyUrls = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (onlyUrls || !arg.startsWith('-') || arg === '-') {
      options.urls.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyUrls = true;
      continue;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      let name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      if (name.startsWith('no-') && LONG_FLAGS.has(name.slice(3))) {
        name = name.slice(3);
        if (name === 'silent') options.silent = false;
        continue;
      }
      if (LONG_WITH_ARG.has(name)) {
        const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
        if (value === undefined)
          return { exitCode: 2, stderr: `curl: option --${name}: requires parameter\n${HINT}` };
        const error = apply(options, name, value);
        if (error) return error;
      } else if (LONG_FLAGS.has(name)) {
        apply(options, name, undefined);
      } else {
        return { exitCode: 2, stderr: `curl: option --${name}: is unknown\n${HINT}` };
      }
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j] ?? '';
      if (SHORT_WITH_ARG.has(letter)) {
        const rest = arg.slice(j + 1);
        const value = rest.length > 0 ? rest : args[++i];
        if (value === undefined)
          return { exitCode: 2, stderr: `curl: option -${letter}: requires parameter\n${HINT}` };
        const error = apply(options, SHORT_TO_LONG[letter] ?? letter, value);
        if (error) return error;
        break;
      }
      if (!SHORT_FLAGS.has(letter))
        return { exitCode: 2, stderr: `curl: option -${letter}: is unknown\n${HINT}` };
      apply(options, SHORT_TO_LONG[letter] ?? letter, undefined);
    }
  }
  if (options.urls.length === 0) return { exitCode: 2, stderr: `curl: no URL specified\n${HINT}` };
  return options;
}

/** What curl knows after a transfer, for `-w`. */
export interface TransferInfo {
  certs: string;
  numCerts: number;
  contentType: string | null;
  /** null when the transfer succeeded. */
  errormsg: string | null;
  exitcode: number;
  httpCode: number;
  httpVersion: string;
  localIp: string | null;
  localPort: number;
  method: string;
  numConnects: number;
  /** `%{conn_id}`: -1 when no connection was made. */
  connId: number;
  numHeaders: number;
  numRedirects: number;
  redirectUrl: string | null;
  remoteIp: string | null;
  remotePort: number;
  scheme: string | null;
  sizeDownload: number;
  sizeHeader: number;
  sizeRequest: number;
  sslVerifyResult: number;
  timeNamelookup: number;
  timeConnect: number;
  timeAppconnect: number;
  timePretransfer: number;
  timeStarttransfer: number;
  timeTotal: number;
  url: string;
  urlEffective: string;
  /** Response headers of the last response, lower-cased names. */
  headers: Record<string, string>;
}

function seconds(value: number): string {
  return value.toFixed(6);
}

/** `%{json}`: curl's variables in its (alphabetical) order, `curl_version` last. */
export function writeOutJson(info: TransferInfo, curlVersion: string): string {
  const speed = info.timeTotal > 0 ? Math.round(info.sizeDownload / info.timeTotal) : 0;
  const entries: [string, string][] = [
    ['certs', JSON.stringify(info.certs)],
    ['conn_id', String(info.connId)],
    ['content_type', JSON.stringify(info.contentType)],
    ['errormsg', JSON.stringify(info.errormsg)],
    ['exitcode', String(info.exitcode)],
    ['filename_effective', 'null'],
    ['ftp_entry_path', 'null'],
    ['http_code', String(info.httpCode)],
    ['http_connect', '0'],
    ['http_version', JSON.stringify(info.httpVersion)],
    ['local_ip', JSON.stringify(info.localIp ?? '')],
    ['local_port', String(info.localPort)],
    ['method', JSON.stringify(info.method)],
    ['num_certs', String(info.numCerts)],
    ['num_connects', String(info.numConnects)],
    ['num_headers', String(info.numHeaders)],
    ['num_redirects', String(info.numRedirects)],
    ['num_retries', '0'],
    ['proxy_ssl_verify_result', '0'],
    ['proxy_used', '0'],
    ['redirect_url', JSON.stringify(info.redirectUrl)],
    ['referer', 'null'],
    ['remote_ip', JSON.stringify(info.remoteIp ?? '')],
    ['remote_port', String(info.remotePort)],
    ['response_code', String(info.httpCode)],
    ['scheme', JSON.stringify(info.scheme)],
    ['size_download', String(info.sizeDownload)],
    ['size_header', String(info.sizeHeader)],
    ['size_request', String(info.sizeRequest)],
    ['size_upload', '0'],
    ['speed_download', String(speed)],
    ['speed_upload', '0'],
    ['ssl_verify_result', String(info.sslVerifyResult)],
    ['time_appconnect', seconds(info.timeAppconnect)],
    ['time_connect', seconds(info.timeConnect)],
    ['time_namelookup', seconds(info.timeNamelookup)],
    ['time_posttransfer', seconds(info.timePretransfer)],
    ['time_pretransfer', seconds(info.timePretransfer)],
    ['time_queue', seconds(0.00002)],
    ['time_redirect', seconds(0)],
    ['time_starttransfer', seconds(info.timeStarttransfer)],
    ['time_total', seconds(info.timeTotal)],
    ['url', JSON.stringify(info.url)],
    ['url_effective', JSON.stringify(info.urlEffective)],
    ['urlnum', '0'],
    ['xfer_id', '0'],
    ['curl_version', JSON.stringify(curlVersion)],
  ];
  return `{${entries.map(([key, value]) => `"${key}":${value}`).join(',')}}`;
}

function variable(name: string, info: TransferInfo, curlVersion: string): string | undefined {
  switch (name) {
    case 'json':
      return writeOutJson(info, curlVersion);
    case 'certs':
      return info.certs;
    case 'num_certs':
      return String(info.numCerts);
    case 'http_code':
    case 'response_code':
      return String(info.httpCode).padStart(3, '0');
    case 'http_version':
      return info.httpVersion;
    case 'exitcode':
      return String(info.exitcode);
    case 'errormsg':
      return info.errormsg ?? '';
    case 'remote_ip':
      return info.remoteIp ?? '';
    case 'remote_port':
      return String(info.remotePort);
    case 'local_ip':
      return info.localIp ?? '';
    case 'local_port':
      return String(info.localPort);
    case 'scheme':
      return info.scheme ?? '';
    case 'url':
      return info.url;
    case 'url_effective':
      return info.urlEffective;
    case 'redirect_url':
      return info.redirectUrl ?? '';
    case 'content_type':
      return info.contentType ?? '';
    case 'method':
      return info.method;
    case 'ssl_verify_result':
      return String(info.sslVerifyResult);
    case 'num_connects':
      return String(info.numConnects);
    case 'conn_id':
      return String(info.connId);
    case 'num_headers':
      return String(info.numHeaders);
    case 'num_redirects':
      return String(info.numRedirects);
    case 'size_download':
      return String(info.sizeDownload);
    case 'size_header':
      return String(info.sizeHeader);
    case 'size_request':
      return String(info.sizeRequest);
    case 'time_total':
      return seconds(info.timeTotal);
    case 'time_connect':
      return seconds(info.timeConnect);
    case 'time_namelookup':
      return seconds(info.timeNamelookup);
    case 'time_appconnect':
      return seconds(info.timeAppconnect);
    case 'time_pretransfer':
      return seconds(info.timePretransfer);
    case 'time_starttransfer':
      return seconds(info.timeStarttransfer);
    default:
      return undefined;
  }
}

/**
 * Renders a `-w` format: `\n`-style escapes, `%{var}`, `%header{name}`, `%{stderr}` /
 * `%{stdout}` switching streams, `%{onerror}` cutting the rest on success.
 */
export function renderWriteOut(
  format: string,
  info: TransferInfo,
  curlVersion: string,
): { stdout: string; stderr: string } {
  const out = { stdout: '', stderr: '' };
  let target: 'stdout' | 'stderr' = 'stdout';
  for (let i = 0; i < format.length; i++) {
    const ch = format[i] ?? '';
    if (ch === '\\' && i + 1 < format.length) {
      const next = format[i + 1] ?? '';
      const escapes: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\' };
      const mapped = escapes[next];
      if (mapped !== undefined) {
        out[target] += mapped;
        i++;
      } else {
        out[target] += ch;
      }
      continue;
    }
    if (ch === '%' && format[i + 1] === '%') {
      out[target] += '%';
      i++;
      continue;
    }
    if (ch === '%' && format.startsWith('header{', i + 1)) {
      const end = format.indexOf('}', i);
      if (end > 0) {
        const name = format.slice(i + 8, end).toLowerCase();
        out[target] += info.headers[name] ?? '';
        i = end;
        continue;
      }
    }
    if (ch === '%' && format[i + 1] === '{') {
      const end = format.indexOf('}', i);
      if (end > 0) {
        const name = format.slice(i + 2, end);
        i = end;
        if (name === 'stderr' || name === 'stdout') {
          target = name;
          continue;
        }
        if (name === 'onerror') {
          if (info.exitcode === 0) break;
          continue;
        }
        const value = variable(name, info, curlVersion);
        if (value === undefined) out.stderr += `curl: unknown --write-out variable: '${name}'\n`;
        else out[target] += value;
        continue;
      }
    }
    out[target] += ch;
  }
  return out;
}
