import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { capSize, redactArgv, redactSecrets, secretsFromKubeconfig } from './redact.ts';

const privateKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const rsaKeyPem = generateKeyPairSync('rsa', { modulusLength: 1024 })
  .privateKey.export({ type: 'pkcs1', format: 'pem' })
  .toString();
const keyBody = privateKeyPem.split('\n')[1] ?? '';
const serviceAccountJwt =
  'eyJhbGciOiJSUzI1NiIsImtpZCI6IkRFTU8ifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50Iiwic3ViIjoic3lzdGVtOnNlcnZpY2VhY2NvdW50OmRlZmF1bHQ6ZGVmYXVsdCJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU';
const opaqueToken = 'kubeadm-7f3a9c.q8w2e4r6t8y0u1i3';

const kubeconfig = stringify({
  apiVersion: 'v1',
  kind: 'Config',
  clusters: [
    {
      name: 'prod',
      cluster: { server: 'https://10.0.0.1:6443', 'certificate-authority-data': 'Q0EtREFUQQ==' },
    },
  ],
  users: [
    { name: 'ci-bot', user: { token: opaqueToken } },
    {
      name: 'admin',
      user: {
        'client-certificate-data': Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n').toString(
          'base64',
        ),
        'client-key-data': Buffer.from(privateKeyPem).toString('base64'),
      },
    },
    { name: 'basic', user: { username: 'ops', password: 'hunter2-but-longer' } },
  ],
  contexts: [{ name: 'prod', context: { cluster: 'prod', user: 'ci-bot' } }],
  'current-context': 'prod',
});

describe('redactSecrets', () => {
  let dir: string;
  let kubeconfigPath: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'redact-'));
    kubeconfigPath = path.join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfig);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('removes every credential of a real-looking kubeconfig, by pattern alone', () => {
    const out = redactSecrets(kubeconfig);
    expect(out).not.toContain(opaqueToken);
    expect(out).not.toContain(Buffer.from(privateKeyPem).toString('base64').slice(0, 40));
    expect(out).not.toContain('hunter2');
    expect(out).toContain('token: [REDACTED]');
    expect(out).toContain('client-key-data: [REDACTED]');
    expect(out).toContain('client-certificate-data: [REDACTED]');
    // What is not a secret stays readable.
    expect(out).toContain('server: https://10.0.0.1:6443');
    expect(out).toContain('username: ops');
  });

  it('removes the kubeconfig secrets wherever they appear once known', async () => {
    const known = await secretsFromKubeconfig(kubeconfigPath);
    expect(known).toContain(opaqueToken);
    const log = `curl: (22) sent with credential ${opaqueToken} to the API server`;
    expect(redactSecrets(log, known)).toBe(
      'curl: (22) sent with credential [REDACTED] to the API server',
    );
  });

  it('removes PEM private keys (PKCS#8 and PKCS#1), also escaped inside JSON, and keeps certificates', () => {
    const text = [
      'key follows',
      privateKeyPem,
      JSON.stringify({ data: { 'tls.key': rsaKeyPem } }),
      '-----BEGIN CERTIFICATE-----\nMIIBcertificate\n-----END CERTIFICATE-----',
    ].join('\n');
    const out = redactSecrets(text);
    expect(out).not.toContain(keyBody);
    expect(out).not.toContain(rsaKeyPem.split('\n')[1] ?? '');
    expect(out).toContain('-----BEGIN PRIVATE KEY-----[REDACTED]-----END PRIVATE KEY-----');
    expect(out).toContain('-----BEGIN RSA PRIVATE KEY-----[REDACTED]-----END RSA PRIVATE KEY-----');
    expect(out).toContain('MIIBcertificate');
  });

  it('removes a private key cut off before its END line', () => {
    const cut = privateKeyPem.slice(0, 80);
    expect(redactSecrets(`before\n${cut}`)).not.toContain(cut.slice(30));
  });

  it('removes base64-encoded private keys (Secret data, config dumps)', () => {
    const encoded = Buffer.from(rsaKeyPem).toString('base64');
    const out = redactSecrets(JSON.stringify({ data: { 'tls.key': encoded, 'ca.crt': 'QUJD' } }));
    expect(out).not.toContain(encoded.slice(0, 60));
    expect(out).toContain('"ca.crt":"QUJD"');
  });

  it('removes bearer tokens, JWTs and token fields in YAML and JSON', () => {
    const text = [
      `Authorization: Bearer ${opaqueToken}`,
      `> authorization: bearer ${serviceAccountJwt}`,
      `{"token":"${opaqueToken}","access_token": "abc def ghi", "expires_in": 3600}`,
      `  id-token: ${serviceAccountJwt}`,
      `projected: ${serviceAccountJwt}`,
    ].join('\n');
    const out = redactSecrets(text);
    expect(out).not.toContain(opaqueToken);
    expect(out).not.toContain('eyJhbGciOiJSUzI1NiIsImtpZCI6IkRFTU8ifQ');
    expect(out).not.toContain('abc def ghi');
    expect(out).toContain('Authorization: Bearer [REDACTED]');
    expect(out).toContain('"expires_in": 3600');
    expect(out).toContain('projected: [REDACTED JWT]');
  });

  it('leaves Kubernetes objects that only name secrets readable', () => {
    const pod = JSON.stringify({
      automountServiceAccountToken: true,
      volumes: [
        { name: 'istio-token', projected: { sources: [{ serviceAccountToken: { path: 'x' } }] } },
        { name: 'certs', secret: { secretName: 'istio-ca-secret' } },
      ],
    });
    expect(redactSecrets(pod)).toBe(pod);
  });

  it('stays linear on long runs of key characters (certificates in a diagnostics dump)', () => {
    // 200 kB of base64 and of letters: the key pattern tried from inside each run took
    // seconds (quadratic); a key after them is still found.
    const run = 'QUJD'.repeat(25_000);
    const text = `ca.crt: ${run}\nname: ${'a'.repeat(100_000)}\nx-auth-token: abc123\n`;
    const started = performance.now();
    const out = redactSecrets(text);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(out).toContain(`ca.crt: ${run}\n`);
    expect(out).toContain('x-auth-token: [REDACTED]');
  });
});

describe('redactArgv', () => {
  it('redacts values of credential flags and recognisable secrets', () => {
    expect(
      redactArgv([
        '--suite',
        'passthrough',
        '--token',
        'abc123',
        '--api-key=xyz',
        `--x=${'eyJ'}aaaa.bbbbb.ccccc`,
      ]),
    ).toEqual([
      '--suite',
      'passthrough',
      '--token',
      '[REDACTED]',
      '--api-key=[REDACTED]',
      '--x=[REDACTED JWT]',
    ]);
  });
});

describe('capSize', () => {
  it('leaves text under the cap alone', () => {
    expect(capSize('short', 100)).toBe('short');
  });

  it('keeps head and tail around a marker naming the bytes dropped, within the cap', () => {
    const text = `HEAD${'x'.repeat(10_000)}TAIL`;
    const out = capSize(text, 1000);
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(1000);
    expect(out.startsWith('HEAD')).toBe(true);
    expect(out.endsWith('TAIL')).toBe(true);
    const dropped = Number(/\[\.\.\. truncated (\d+) bytes \.\.\.\]/.exec(out)?.[1]);
    const marker = `\n[... truncated ${dropped} bytes ...]\n`;
    expect(Buffer.byteLength(out) - Buffer.byteLength(marker) + dropped).toBe(
      Buffer.byteLength(text),
    );
  });

  it('never splits a multi-byte character', () => {
    const out = capSize('é'.repeat(5000), 501);
    expect(out).not.toContain('\uFFFD');
    expect(Buffer.byteLength(out)).toBeLessThanOrEqual(501);
  });
});
