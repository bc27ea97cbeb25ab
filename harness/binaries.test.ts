import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  compareVersions,
  defaultCacheDir,
  extractTarEntry,
  parseIstioctlVersion,
  parseKindVersion,
  releaseAsset,
  resolveTool,
  runTool,
  ToolFailedError,
} from './binaries.ts';
import { EnvironmentError } from './errors.ts';

const KIND_VERSION = 'v0.32.0';
const ISTIO_VERSION = '1.31.1';
const platform = 'linux';
const arch = 'x64';

let work: string;
let server: Server;
let baseUrl: string;
const served = new Map<string, Buffer>();
const requests: string[] = [];

/** A fake tool: prints its version, and leaves a marker file whenever it is run at all. */
function fakeTool(versionLine: string, marker: string): string {
  return `#!/bin/sh\necho run >> '${marker}'\necho '${versionLine}'\n`;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function tarGz(files: Record<string, string>, format = 'ustar'): Promise<Buffer> {
  const source = await mkdtemp(join(work, 'tar-src-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(source, name, '..'), { recursive: true });
    await writeFile(join(source, name), content, { mode: 0o755 });
  }
  const archive = join(work, `archive-${Math.random().toString(36).slice(2)}.tar.gz`);
  await execa('tar', [`--format=${format}`, '-czf', archive, '-C', source, ...Object.keys(files)]);
  return readFile(archive);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'egc-binaries-'));
  server = createServer((request, response) => {
    requests.push(request.url ?? '');
    const body = served.get(request.url ?? '');
    if (!body) {
      response.writeHead(404).end('Not Found');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  served.clear();
  requests.length = 0;
});

async function freshDirs(): Promise<{ cacheDir: string; marker: string; emptyPath: string }> {
  const root = await mkdtemp(join(work, 'case-'));
  const emptyPath = join(root, 'empty-bin');
  await mkdir(emptyPath);
  return { cacheDir: join(root, 'cache'), marker: join(root, 'ran'), emptyPath };
}

function serveKind(binary: Buffer, checksum = sha256(binary)): void {
  served.set(`/kind/${KIND_VERSION}/kind-linux-amd64`, binary);
  served.set(
    `/kind/${KIND_VERSION}/kind-linux-amd64.sha256sum`,
    Buffer.from(`${checksum}  kind-linux-amd64\n`),
  );
}

function serveIstioctl(archive: Buffer, checksum = sha256(archive)): void {
  const name = `istioctl-${ISTIO_VERSION}-linux-amd64.tar.gz`;
  served.set(`/istio/${ISTIO_VERSION}/${name}`, archive);
  served.set(`/istio/${ISTIO_VERSION}/${name}.sha256`, Buffer.from(`${checksum}  ${name}\n`));
}

function options(dirs: { cacheDir: string; emptyPath: string }) {
  return {
    cacheDir: dirs.cacheDir,
    baseUrls: { kind: `${baseUrl}/kind`, istioctl: `${baseUrl}/istio` },
    env: { PATH: dirs.emptyPath },
    platform: platform as NodeJS.Platform,
    arch,
  };
}

describe('resolveTool downloads', () => {
  it('downloads kind, verifies its .sha256sum, caches it, and reuses the cache without a request', async () => {
    const dirs = await freshDirs();
    serveKind(Buffer.from(fakeTool(`kind ${KIND_VERSION} go1.24.6 linux/amd64`, dirs.marker)));

    const first = await resolveTool({ tool: 'kind', version: KIND_VERSION, ...options(dirs) });
    expect(first).toEqual({
      tool: 'kind',
      version: KIND_VERSION,
      source: 'download',
      path: join(dirs.cacheDir, 'kind', KIND_VERSION, 'kind'),
    });
    expect((await execa(first.path, ['version'])).stdout).toContain(KIND_VERSION);
    expect(requests.sort()).toEqual([
      `/kind/${KIND_VERSION}/kind-linux-amd64`,
      `/kind/${KIND_VERSION}/kind-linux-amd64.sha256sum`,
    ]);

    requests.length = 0;
    const second = await resolveTool({ tool: 'kind', version: KIND_VERSION, ...options(dirs) });
    expect(second.source).toBe('cache');
    expect(requests).toEqual([]);
  });

  it('downloads the istioctl tarball, verifies its .sha256 and extracts istioctl from it', async () => {
    const dirs = await freshDirs();
    serveIstioctl(
      await tarGz({ istioctl: fakeTool(`client version: ${ISTIO_VERSION}`, dirs.marker) }),
    );

    const resolved = await resolveTool({
      tool: 'istioctl',
      version: ISTIO_VERSION,
      ...options(dirs),
    });
    expect(resolved.source).toBe('download');
    expect(resolved.version).toBe(ISTIO_VERSION);
    const { stdout } = await execa(resolved.path, ['version', '--remote=false']);
    expect(stdout).toBe(`client version: ${ISTIO_VERSION}`);
  });

  it('refuses a kind download whose checksum differs: environment error, never run, nothing kept', async () => {
    const dirs = await freshDirs();
    serveKind(Buffer.from(fakeTool(`kind ${KIND_VERSION}`, dirs.marker)), 'a'.repeat(64));

    const failure = await resolveTool({
      tool: 'kind',
      version: KIND_VERSION,
      ...options(dirs),
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(
      /has SHA-256 [0-9a-f]{64} but the published checksum is a{64}/,
    );
    expect((failure as Error).message).toContain('neither run nor kept');
    expect(existsSync(dirs.marker)).toBe(false);
    const kept = existsSync(join(dirs.cacheDir, 'kind', KIND_VERSION))
      ? await readdir(join(dirs.cacheDir, 'kind', KIND_VERSION))
      : [];
    expect(kept).toEqual([]);
  });

  it('refuses an istioctl archive whose checksum differs, without unpacking or running it', async () => {
    const dirs = await freshDirs();
    const archive = await tarGz({
      istioctl: fakeTool(`client version: ${ISTIO_VERSION}`, dirs.marker),
    });
    serveIstioctl(archive, sha256(Buffer.concat([archive, Buffer.from('x')])));

    await expect(
      resolveTool({ tool: 'istioctl', version: ISTIO_VERSION, ...options(dirs) }),
    ).rejects.toThrow(EnvironmentError);
    expect(existsSync(dirs.marker)).toBe(false);
    expect(existsSync(join(dirs.cacheDir, 'istioctl', ISTIO_VERSION, 'istioctl'))).toBe(false);
  });

  it('reports a missing release (HTTP 404) as an environment error naming the URL and the fix', async () => {
    const dirs = await freshDirs();
    const failure = await resolveTool({
      tool: 'istioctl',
      version: '9.9.9',
      ...options(dirs),
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toContain(
      `${baseUrl}/istio/9.9.9/istioctl-9.9.9-linux-amd64.tar.gz`,
    );
    expect((failure as Error).message).toContain('HTTP 404');
    expect((failure as Error).message).toContain('--istioctl <path>');
  });

  it('reports an unreachable download server as an environment error', async () => {
    const dirs = await freshDirs();
    const failure = await resolveTool({
      tool: 'kind',
      version: KIND_VERSION,
      ...options(dirs),
      baseUrls: { kind: 'http://127.0.0.1:1/kind' },
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(
      /^Cannot download kind v0\.32\.0 from http:\/\/127\.0\.0\.1:1\//,
    );
  });
});

describe('resolveTool without a download', () => {
  it('uses a binary on PATH when its version matches the pinned one', async () => {
    const dirs = await freshDirs();
    const bin = join(dirs.emptyPath, '..', 'bin');
    await mkdir(bin);
    await writeFile(
      join(bin, 'kind'),
      fakeTool(`kind ${KIND_VERSION} go1.24.6 linux/amd64`, dirs.marker),
      {
        mode: 0o755,
      },
    );
    const resolved = await resolveTool({
      tool: 'kind',
      version: KIND_VERSION,
      ...options(dirs),
      env: { PATH: `${dirs.emptyPath}:${bin}` },
    });
    expect(resolved).toMatchObject({ source: 'path', path: join(bin, 'kind') });
    expect(requests).toEqual([]);
  });

  it('downloads the pinned release when the binary on PATH has another version', async () => {
    const dirs = await freshDirs();
    const bin = join(dirs.emptyPath, '..', 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'istioctl'), fakeTool('client version: 1.29.0', dirs.marker), {
      mode: 0o755,
    });
    serveIstioctl(
      await tarGz({ istioctl: fakeTool(`client version: ${ISTIO_VERSION}`, dirs.marker) }),
    );
    const notes: string[] = [];
    const resolved = await resolveTool({
      tool: 'istioctl',
      version: ISTIO_VERSION,
      ...options(dirs),
      env: { PATH: bin },
      log: (line) => notes.push(line),
    });
    expect(resolved.source).toBe('download');
    expect(notes.join('\n')).toContain('reports 1.29.0, not the pinned 1.31.1');
  });

  it('uses an explicit path as given and reports the version it prints', async () => {
    const dirs = await freshDirs();
    const explicit = join(dirs.emptyPath, 'my-istioctl');
    await writeFile(explicit, fakeTool('client version: 1.30.5', dirs.marker), { mode: 0o755 });
    const resolved = await resolveTool({
      tool: 'istioctl',
      version: ISTIO_VERSION,
      explicitPath: explicit,
      ...options(dirs),
    });
    expect(resolved).toEqual({
      tool: 'istioctl',
      path: explicit,
      version: '1.30.5',
      source: 'flag',
    });
  });

  it('rejects an explicit path that is not an executable file', async () => {
    const dirs = await freshDirs();
    const notExecutable = join(dirs.emptyPath, 'kind');
    await writeFile(notExecutable, 'not a program');
    await chmod(notExecutable, 0o644);
    await expect(
      resolveTool({
        tool: 'kind',
        version: KIND_VERSION,
        explicitPath: notExecutable,
        ...options(dirs),
      }),
    ).rejects.toThrow(/^--kind .* is not an executable file; /);
  });
});

describe('release names and version parsing', () => {
  it('names the release files the way kind and Istio publish them', () => {
    expect(
      releaseAsset({ tool: 'kind', version: 'v0.32.0', platform: 'darwin', arch: 'arm64' }),
    ).toEqual({
      url: 'https://kind.sigs.k8s.io/dl/v0.32.0/kind-darwin-arm64',
      checksumUrl: 'https://kind.sigs.k8s.io/dl/v0.32.0/kind-darwin-arm64.sha256sum',
      archive: false,
    });
    const istioctl = (p: NodeJS.Platform, a: string): string =>
      releaseAsset({ tool: 'istioctl', version: '1.31.1', platform: p, arch: a }).url;
    expect(istioctl('linux', 'x64')).toBe(
      'https://github.com/istio/istio/releases/download/1.31.1/istioctl-1.31.1-linux-amd64.tar.gz',
    );
    expect(istioctl('linux', 'arm64')).toMatch(/istioctl-1\.31\.1-linux-arm64\.tar\.gz$/);
    expect(istioctl('darwin', 'x64')).toMatch(/istioctl-1\.31\.1-osx\.tar\.gz$/);
    expect(istioctl('darwin', 'arm64')).toMatch(/istioctl-1\.31\.1-osx-arm64\.tar\.gz$/);
    expect(() => istioctl('win32', 'x64')).toThrow(EnvironmentError);
  });

  it('parses the version lines the tools print', () => {
    expect(parseKindVersion('kind v0.32.0 go1.24.6 linux/amd64')).toBe('v0.32.0');
    expect(parseKindVersion('kind v0.33.0-alpha+abc go1.25 darwin/arm64')).toBe(
      'v0.33.0-alpha+abc',
    );
    expect(parseIstioctlVersion('client version: 1.31.1\n')).toBe('1.31.1');
    expect(parseIstioctlVersion('1.4.3\n')).toBe('1.4.3');
    expect(parseIstioctlVersion('no version here')).toBeUndefined();
    expect(compareVersions('v0.23.0', 'v0.24.0')).toBe(-1);
    expect(compareVersions('v0.32.0', 'v0.24.0')).toBe(1);
    expect(compareVersions('1.31.1', '1.31.1')).toBe(0);
  });

  it('puts the cache under XDG_CACHE_HOME, else ~/.cache', () => {
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' }, '/home/u')).toBe('/x/egress-conformance');
    expect(defaultCacheDir({}, '/home/u')).toBe('/home/u/.cache/egress-conformance');
  });

  it('extracts from GNU long-name and PAX archives written by the system tar', async () => {
    const deep = `${'d'.repeat(120)}/istioctl`;
    for (const format of ['gnu', 'pax']) {
      const tar = gunzipSync(await tarGz({ 'README.md': 'hello', [deep]: 'binary' }, format));
      expect(extractTarEntry(tar, 'istioctl')?.toString()).toBe('binary');
      expect(extractTarEntry(tar, 'kind')).toBeUndefined();
    }
  });
});

describe('runTool exit codes', () => {
  /** A tool that prints to both streams and exits with `code`. */
  async function exiting(code: number): Promise<string> {
    const root = await mkdtemp(join(work, 'exit-'));
    const path = join(root, 'tool');
    await writeFile(path, `#!/bin/sh\necho out\necho err >&2\nexit ${code}\n`, { mode: 0o755 });
    return path;
  }
  const run = (path: string, resultExitCodes?: number[]) =>
    runTool({
      path,
      args: ['a'],
      what: 'the tool',
      fix: 'fix it',
      timeoutMs: 10_000,
      env: { PATH: process.env.PATH ?? '' },
      ...(resultExitCodes ? { resultExitCodes } : {}),
    });

  it('returns both streams and exit code 0', async () => {
    expect(await run(await exiting(0))).toEqual({ stdout: 'out', stderr: 'err', exitCode: 0 });
  });

  it('returns an exit code the caller names as an answer (istioctl analyze: 79) with the output', async () => {
    expect(await run(await exiting(79), [79])).toEqual({
      stdout: 'out',
      stderr: 'err',
      exitCode: 79,
    });
  });

  it('throws ToolFailedError (an environment error) for any other non-zero exit', async () => {
    const failed = run(await exiting(1), [79]);
    await expect(failed).rejects.toThrow(ToolFailedError);
    await expect(failed).rejects.toThrow(
      /the tool failed: `.*tool a` exited 1 after .* \(err \| out\); fix it\./,
    );
    await expect(run(await exiting(79))).rejects.toBeInstanceOf(EnvironmentError);
  });
});
