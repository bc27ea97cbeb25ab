/**
 * `openssl s_client` in a pod (the troubleshooting step of Istio's egress page): a bare
 * TLS handshake through the pod's network path, printing the chain the server presented
 * as OpenSSL 3 does, then `DONE` when stdin (empty under exec) closes.
 */
import type { ExecResult, KubeObject } from '../types.ts';
import { VERIFY_TEXT, verifyResult } from './certs.ts';
import type { ServerIdentity } from './certs.ts';
import { openFromPod, resolveFromPod } from './client.ts';
import type { MeshContext } from './context.ts';
import { isIpLiteral } from './k8s.ts';

const ERROR_PREFIX = '40E7C8E4BB7F0000:error:';

function usage(message: string): ExecResult {
  return { stdout: '', stderr: `${message}\ns_client: Use -help for summary.\n`, exitCode: 1 };
}

function handshakeFailed(written: number, stderr: string): ExecResult {
  const stdout =
    'CONNECTED(00000003)\n---\nno peer certificate available\n---\nNo client certificate CA names sent\n---\n' +
    `SSL handshake has read 0 bytes and written ${written} bytes\nVerification: OK\n---\n` +
    'New, (NONE), Cipher is (NONE)\nThis TLS version forbids renegotiation.\nCompression: NONE\nExpansion: NONE\n' +
    'No ALPN negotiated\nEarly data was not sent\nVerify return code: 0 (ok)\n---\n';
  return { stdout, stderr, exitCode: 1 };
}

function describe(
  server: ServerIdentity,
  showCerts: boolean,
  alpn: string | undefined,
): { stdout: string; stderr: string } {
  const verify = verifyResult(server, 'public');
  const leaf = server.chain[0];
  const chainLines = server.chain.flatMap((cert, index) => {
    const notBefore = cert.details.find(([name]) => name === 'Start date')?.[1] ?? '';
    const notAfter = cert.details.find(([name]) => name === 'Expire date')?.[1] ?? '';
    const bits = cert.details.find(([name]) => name === 'RSA Public Key')?.[1];
    const lines = [
      ` ${index} s:${cert.subject}`,
      `   i:${cert.issuer}`,
      `   a:PKEY: ${bits ? `rsaEncryption, ${bits} (bit)` : 'id-ecPublicKey, 256 (bit)'}; sigalg: ${bits ? 'RSA-SHA256' : 'ecdsa-with-SHA256'}`,
      `   v:NotBefore: ${notBefore}; NotAfter: ${notAfter}`,
    ];
    if (showCerts && cert.pem) lines.push(cert.pem);
    return lines;
  });
  const stdout = [
    'CONNECTED(00000003)',
    '---',
    'Certificate chain',
    ...chainLines,
    '---',
    'Server certificate',
    ...(leaf?.pem ? [leaf.pem] : []),
    `subject=${leaf?.subject ?? ''}`,
    `issuer=${leaf?.issuer ?? ''}`,
    '---',
    'No client certificate CA names sent',
    'Peer signing digest: SHA256',
    'Peer signature type: RSA-PSS',
    'Server Temp Key: X25519, 253 bits',
    '---',
    `SSL handshake has read ${1200 + server.chain.length * 1100} bytes and written 393 bytes`,
    verify === 0 ? 'Verification: OK' : `Verification error: ${VERIFY_TEXT[verify] ?? 'unknown'}`,
    '---',
    'New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384',
    'Protocol: TLSv1.3',
    'Server public key is 2048 bit',
    'This TLS version forbids renegotiation.',
    'Compression: NONE',
    'Expansion: NONE',
    alpn ? `ALPN protocol: ${alpn}` : 'No ALPN negotiated',
    'Early data was not sent',
    `Verify return code: ${verify} (${VERIFY_TEXT[verify] ?? 'unknown'})`,
    '---',
  ].join('\n');
  const depth = server.chain.length - 1;
  const stderr =
    verify === 0
      ? server.chain
          .map((cert, index) => `depth=${depth - index} ${cert.subject}\nverify return:1\n`)
          .join('') + 'DONE\n'
      : `depth=0 ${leaf?.subject ?? ''}\nverify error:num=${verify}:${VERIFY_TEXT[verify] ?? ''}\nverify return:1\n` +
        `depth=0 ${leaf?.subject ?? ''}\nverify return:1\nDONE\n`;
  return { stdout: `${stdout}\n`, stderr };
}

/** Runs `openssl` with `args` (argv without the program name); only `s_client` is modelled. */
export function runOpenssl(
  ctx: MeshContext,
  pod: KubeObject,
  container: string,
  args: string[],
): ExecResult {
  if (args[0] !== 's_client') {
    return {
      stdout: '',
      stderr: `Invalid command '${args[0] ?? ''}'; type "help" for a list.\n`,
      exitCode: 1,
    };
  }
  let connectTo = 'localhost:4433';
  let serverName: string | undefined;
  let noServerName = false;
  let showCerts = false;
  let alpn: string[] = [];
  for (let i = 1; i < args.length; i++) {
    const arg = args[i] ?? '';
    const next = (): string | undefined => args[++i];
    switch (arg) {
      case '-connect':
        connectTo = next() ?? '';
        break;
      case '-servername':
        serverName = next();
        break;
      case '-noservername':
        noServerName = true;
        break;
      case '-showcerts':
        showCerts = true;
        break;
      case '-alpn':
        alpn = (next() ?? '').split(',');
        break;
      case '-CAfile':
      case '-CApath':
      case '-verify':
      case '-cert':
      case '-key':
      case '-timeout':
        next();
        break;
      case '-brief':
      case '-quiet':
      case '-verify_return_error':
      case '-tls1_2':
      case '-tls1_3':
      case '-prexit':
      case '-state':
      case '-debug':
      case '-msg':
        break;
      default:
        if (!arg.startsWith('-') && i === args.length - 1) {
          connectTo = arg;
          break;
        }
        return usage(`s_client: Unknown option: ${arg}`);
    }
  }
  const colon = connectTo.lastIndexOf(':');
  const host = (colon > 0 ? connectTo.slice(0, colon) : connectTo).replace(/^\[|\]$/g, '');
  const port = colon > 0 ? Number(connectTo.slice(colon + 1)) : 443;
  if (!Number.isInteger(port)) return usage(`s_client: Invalid port in ${connectTo}`);
  const resolved = resolveFromPod(ctx, pod, host);
  if (!resolved.ok) {
    return {
      stdout: '',
      stderr: `${ERROR_PREFIX}10080002:BIO routines:BIO_lookup_ex:system lib:crypto/bio/bio_addr.c:738:Name does not resolve\nconnect:errno=0\n`,
      exitCode: 1,
    };
  }
  const sni = noServerName ? undefined : (serverName ?? (isIpLiteral(host) ? undefined : host));
  const { reply } = openFromPod(
    ctx,
    pod,
    container,
    { ip: resolved.ip, port },
    {
      kind: 'tls',
      sni,
      alpn,
      istioMutual: false,
      inner: undefined,
    },
  );
  switch (reply.kind) {
    case 'tls': {
      const out = describe(
        reply.server,
        showCerts,
        alpn.length > 0 ? alpn[alpn.length - 1] : undefined,
      );
      return { stdout: out.stdout, stderr: out.stderr, exitCode: 0 };
    }
    case 'refused':
      return {
        stdout: '',
        stderr: `${ERROR_PREFIX}8000006F:system library:BIO_connect:Connection refused:crypto/bio/bio_sock2.c:178:calling connect()\n${ERROR_PREFIX}10000067:BIO routines:BIO_connect:connect error:crypto/bio/bio_sock2.c:180:\nconnect:errno=111\n`,
        exitCode: 1,
      };
    case 'timeout':
      return {
        stdout: '',
        stderr: `${ERROR_PREFIX}8000006E:system library:BIO_connect:Connection timed out:crypto/bio/bio_sock2.c:178:calling connect()\nconnect:errno=110\n`,
        exitCode: 1,
      };
    case 'reset':
      return handshakeFailed(312, 'write:errno=104\n');
    case 'tls-alert':
      return handshakeFailed(
        312,
        `${ERROR_PREFIX}0A00045C:SSL routines:ssl3_read_bytes:${reply.alert}:ssl/record/rec_layer_s3.c:865:SSL alert number 116\n`,
      );
    case 'http':
      return handshakeFailed(
        312,
        `${ERROR_PREFIX}0A00010B:SSL routines:ssl3_get_record:wrong version number:ssl/record/methods/tlsany_meth.c:80:\n`,
      );
    default:
      return handshakeFailed(
        312,
        `${ERROR_PREFIX}0A000126:SSL routines::unexpected eof while reading:ssl/record/rec_layer_s3.c:692:\n`,
      );
  }
}
