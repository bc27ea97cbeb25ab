/**
 * Hostile input through the whole CLI (issue 10, item 6): each is exit 2 with one sentence,
 * in bounded time, with no secret printed and no process left. The parsers' own limits are
 * tested next to them (harness/manifests.test.ts: non-YAML, alias bomb, size, names;
 * harness/k8s/client.test.ts: the hanging exec plugin's bound; harness/cli.test.ts:
 * --timeout 0 and 10^12).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, existingClusterArgs } from './cli.ts';
import { pollUntil } from '../../harness/wait.ts';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'egc-hostile-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A --manifests folder with one file. */
async function manifests(name: string, content: string | Buffer): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'x.yaml'), content);
  return dir;
}

function oneSentence(stderr: string): void {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
}

const ALIAS_BOMB = (() => {
  const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (const [index, name] of [...'bcdefghij'].entries()) {
    const previous = index === 0 ? 'a' : ('bcdefghij'[index - 1] ?? 'a');
    levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(',')}]`);
  }
  return `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n${levels.map((l) => `  ${l}`).join('\n')}\n`;
})();

describe('hostile input through the CLI', { timeout: 120_000 }, () => {
  it.each([
    [
      'a 50 MB file',
      () => Buffer.alloc(50 * 1024 * 1024, 'a'),
      /more than the \d+ a manifest may have/,
    ],
    ['a file that is not YAML', () => '{{{ not: yaml: [', /is not valid YAML/],
    ['a YAML alias bomb', () => ALIAS_BOMB, /Excessive alias count/],
    [
      'an object name that is not a DNS name',
      () => 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_A_Name}\n',
      /lower-case DNS name/,
    ],
  ])('--manifests with %s: exit 2, one sentence, in seconds', async (name, content, reason) => {
    const dir = await manifests(name.replace(/\W+/g, '-'), content());
    const started = Date.now();
    const result = await execa(
      process.execPath,
      [CLI, '--cluster', 'simulated', '--manifests', dir, '--reports', path.join(dir, 'r')],
      { reject: false, cwd: work, timeout: 60_000 },
    );
    expect(result.exitCode, String(result.stderr)).toBe(2);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(String(result.stderr)).toMatch(reason);
    oneSentence(String(result.stderr));
  });

  it('a kubeconfig whose exec credential plugin hangs: exit 2 within the bound, no secret, no process left', async () => {
    const kubeconfig = path.join(work, 'hanging-kubeconfig');
    const secret = 'sekrit-token-value-0123456789';
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]',
        `users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: sleep, args: ["600"], env: [{name: TOKEN, value: "${secret}"}], interactiveMode: Never}}}]`,
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
        '',
      ].join('\n'),
    );
    const started = Date.now();
    const child = spawn(
      process.execPath,
      [
        CLI,
        ...existingClusterArgs(kubeconfig, 'host:egress.example.com'),
        '--reports',
        path.join(work, 'hanging-reports'),
      ],
      { cwd: work, detached: true },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, `${output}\n${stderr}`).toBe(2);
    // REACHABLE_TIMEOUT_MS (30 s) bounds the first request; the rest is startup.
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(stderr).toMatch(/exec credential plugin \(sleep\) may be waiting for input or hanging/);
    oneSentence(stderr);
    expect(`${output}${stderr}`).not.toContain(secret);
    // The plugin the client spawned goes with the run.
    await pollUntil({
      what: 'every process of the run, the hanging plugin included, to exit',
      timeoutMs: 10_000,
      intervalMs: 200,
      observe: () => {
        try {
          process.kill(-(child.pid ?? 0), 0);
          return Promise.resolve('alive');
        } catch {
          return Promise.resolve('gone');
        }
      },
      done: (state) => state === 'gone',
    });
  });
});
