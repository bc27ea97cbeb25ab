import { describe, expect, it } from 'vitest';
import { CERTS_MARKER, WRITE_OUT_MARKER, curlCommand } from '../../harness/curl.ts';
import type { TransferInfo } from './curl-cli.ts';
import { parseCurlArgs, renderWriteOut } from './curl-cli.ts';
import { splitShellCommand } from './shell.ts';

const info: TransferInfo = {
  certs: 'Subject:CN = a\nIssuer:CN = b\n',
  numCerts: 1,
  contentType: 'text/plain',
  errormsg: null,
  exitcode: 0,
  httpCode: 200,
  httpVersion: '1.1',
  localIp: '10.0.0.1',
  localPort: 40000,
  method: 'GET',
  numConnects: 1,
  connId: 0,
  numHeaders: 2,
  numRedirects: 0,
  redirectUrl: null,
  remoteIp: '1.2.3.4',
  remotePort: 443,
  scheme: 'https',
  sizeDownload: 10,
  sizeHeader: 50,
  sizeRequest: 70,
  sslVerifyResult: 20,
  timeNamelookup: 0.001,
  timeConnect: 0.002,
  timeAppconnect: 0.003,
  timePretransfer: 0.004,
  timeStarttransfer: 0.005,
  timeTotal: 0.006,
  url: 'https://a/',
  urlEffective: 'https://a/',
  headers: { 'x-one': 'uno' },
};

describe('curl command line', () => {
  it("parses exactly what harness/curl.ts's curlCommand builds", () => {
    const argv = curlCommand({
      url: 'https://h.example/p',
      maxTimeSeconds: 7,
      insecure: true,
      resolve: ['h.example:443:10.0.0.5'],
      headers: { Host: 'h.example', 'X-Test': 'a b' },
    });
    const options = parseCurlArgs(argv.slice(1));
    if ('exitCode' in options) throw new Error(options.stderr);
    expect(options).toMatchObject({
      urls: ['https://h.example/p'],
      silent: true,
      showError: true,
      maxTimeSeconds: 7,
      dumpHeader: '-',
      insecure: true,
      resolve: ['h.example:443:10.0.0.5'],
      headers: ['Host: h.example', 'X-Test: a b'],
    });
    expect(options.writeOut).toBe(`\\n${WRITE_OUT_MARKER}%{json}\\n${CERTS_MARKER}\\n%{certs}`);
  });

  it('accepts clustered short options, attached values, -o, -I, -v and --', () => {
    const options = parseCurlArgs(['-sSkIv', '-m5', '-o', '/dev/null', '--', '-weird-url']);
    if ('exitCode' in options) throw new Error(options.stderr);
    expect(options).toMatchObject({
      silent: true,
      insecure: true,
      head: true,
      verbose: true,
      maxTimeSeconds: 5,
      output: '/dev/null',
      urls: ['-weird-url'],
    });
  });

  it('rejects unknown options and a missing URL as curl does (exit 2)', () => {
    expect(parseCurlArgs(['--frobnicate', 'x'])).toEqual({
      exitCode: 2,
      stderr:
        "curl: option --frobnicate: is unknown\ncurl: try 'curl --help' or 'curl --manual' for more information\n",
    });
    expect(parseCurlArgs(['-s'])).toMatchObject({
      exitCode: 2,
      stderr: expect.stringContaining('no URL specified') as unknown,
    });
  });
});

describe('curl write-out', () => {
  it('expands escapes, variables, %header{} and stream switches', () => {
    expect(
      renderWriteOut(
        '%{http_code} %{remote_ip}:%{remote_port}\\t%header{x-one}\\n%{stderr}err%{stdout}100%%',
        info,
        'libcurl/x',
      ),
    ).toEqual({
      stdout: '200 1.2.3.4:443\tuno\n100%',
      stderr: 'err',
    });
    expect(renderWriteOut('%{http_code}', { ...info, httpCode: 0 }, 'v').stdout).toBe('000');
    expect(renderWriteOut('%{nope}', info, 'v').stderr).toBe(
      "curl: unknown --write-out variable: 'nope'\n",
    );
    expect(renderWriteOut('a%{onerror}b', info, 'v').stdout).toBe('a');
  });

  it('renders %{json} with curl’s keys in order, errormsg null on success, curl_version last', () => {
    const json = renderWriteOut('%{json}', info, 'libcurl/8.11.1').stdout;
    const parsed = JSON.parse(json) as Record<string, unknown>;
    const keys = Object.keys(parsed);
    expect(keys.at(-1)).toBe('curl_version');
    expect(keys.slice(0, -1)).toEqual([...keys.slice(0, -1)].sort());
    expect(parsed).toMatchObject({
      http_code: 200,
      response_code: 200,
      exitcode: 0,
      errormsg: null,
      ssl_verify_result: 20,
      scheme: 'https',
      certs: info.certs,
    });
    expect(json).toContain('"time_total":0.006000');
  });
});

describe('sh -c splitting', () => {
  it('splits words with quotes and list operators', () => {
    expect(splitShellCommand(`curl -H 'Host: a b' "x\\"y" && echo ok; false || echo no`)).toEqual({
      steps: [
        { argv: ['curl', '-H', 'Host: a b', 'x"y'], when: 'always' },
        { argv: ['echo', 'ok'], when: 'and' },
        { argv: ['false'], when: 'always' },
        { argv: ['echo', 'no'], when: 'or' },
      ],
    });
    expect(splitShellCommand('curl x | grep y')).toHaveProperty('error');
  });
});
