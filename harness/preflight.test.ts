import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvironmentError } from './errors.ts';
import { kubeconfigText } from './testing/kubeconfig.ts';
import { connect } from './k8s/client.ts';
import {
  RUN_ACCESS_REQUIREMENTS,
  describeAccess,
  checkAccess,
  checkContainerEngine,
  checkNodeVersion,
  inotifyWarning,
  readInotifyLimits,
} from './preflight.ts';

const STANDIN_BIN = fileURLToPath(new URL('../simulator/bin', import.meta.url));
const NODE_BIN = join(process.execPath, '..');

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'egc-preflight-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function binWith(name: string, script: string): Promise<string> {
  const bin = await mkdtemp(join(work, 'bin-'));
  await writeFile(join(bin, name), script, { mode: 0o755 });
  return bin;
}

describe('checkContainerEngine', () => {
  it('names Docker and the fix when there is no docker command at all', async () => {
    const empty = await mkdtemp(join(work, 'empty-'));
    await expect(checkContainerEngine({ env: { PATH: empty } })).rejects.toThrow(
      new EnvironmentError(
        'Docker engine not reachable: there is no `docker` command on PATH; start Docker (or Podman with DOCKER_HOST) and retry.',
      ),
    );
  });

  it('names Docker, quotes the client, and answers within seconds when the engine is down', async () => {
    const bin = await binWith(
      'docker',
      '#!/bin/sh\necho\necho "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2\nexit 1\n',
    );
    const started = Date.now();
    const failure = await checkContainerEngine({ env: { PATH: bin } }).catch(
      (error: unknown) => error,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toBe(
      'Docker engine not reachable: `docker info` says "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"; start Docker (or Podman with DOCKER_HOST) and retry.',
    );
  });

  it('gives up on an engine that does not answer', async () => {
    const bin = await binWith('docker', '#!/bin/sh\nexec /bin/sleep 10\n');
    await expect(checkContainerEngine({ env: { PATH: bin }, timeoutMs: 300 })).rejects.toThrow(
      /^Docker engine not reachable: `docker info` did not answer within 300 ms; /,
    );
  });

  it('returns the engine version from the stand-in docker', async () => {
    await expect(
      checkContainerEngine({ env: { PATH: `${STANDIN_BIN}:${NODE_BIN}` } }),
    ).resolves.toBe('28.2.2');
  });

  it('asks podman when kind is told to use it', async () => {
    const bin = await binWith('podman', '#!/bin/sh\necho "5.4.0"\n');
    await expect(
      checkContainerEngine({ env: { PATH: bin, KIND_EXPERIMENTAL_PROVIDER: 'podman' } }),
    ).resolves.toBe('5.4.0');
  });
});

describe('host checks', () => {
  it('rejects a Node older than package.json engines', () => {
    expect(() => checkNodeVersion('20.20.2')).toThrow(
      /^Node 20\.20\.2 is too old for this harness; install Node 22\.12\.0 or newer/,
    );
    expect(() => checkNodeVersion('22.12.0')).not.toThrow();
    expect(() => checkNodeVersion('24.1.0')).not.toThrow();
  });

  it('warns about inotify limits below kind recommendation and reads them from /proc', async () => {
    const proc = join(work, 'proc');
    await mkdir(join(proc, 'sys/fs/inotify'), { recursive: true });
    await writeFile(join(proc, 'sys/fs/inotify/max_user_watches'), '8192\n');
    await writeFile(join(proc, 'sys/fs/inotify/max_user_instances'), '128\n');
    const limits = await readInotifyLimits(proc);
    expect(limits).toEqual({ maxUserWatches: 8192, maxUserInstances: 128 });
    expect(inotifyWarning(limits)).toContain(
      'sudo sysctl fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=512',
    );
    expect(inotifyWarning({ maxUserWatches: 524288, maxUserInstances: 512 })).toBeUndefined();
    expect(await readInotifyLimits(join(work, 'no-proc'))).toBeUndefined();
  });
});

describe('checkAccess', () => {
  let server: Server;
  let kubeconfigPath: string;
  const denied = new Set(['create pods/exec', 'patch virtualservices.networking.istio.io']);
  const asked: string[] = [];

  beforeAll(async () => {
    // A minimal API server that answers SelfSubjectAccessReviews from a deny list.
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        if (
          request.method !== 'POST' ||
          request.url !== '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'
        ) {
          response
            .writeHead(404, { 'content-type': 'application/json' })
            .end('{"kind":"Status","code":404}');
          return;
        }
        const review = JSON.parse(body) as { spec: { resourceAttributes: Record<string, string> } };
        const { verb, group, resource, subresource } = review.spec.resourceAttributes;
        const key = `${verb} ${resource}${group ? `.${group}` : ''}${subresource ? `/${subresource}` : ''}`;
        asked.push(key);
        response
          .writeHead(201, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ...review, status: { allowed: !denied.has(key) } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    kubeconfigPath = join(work, 'kubeconfig');
    await writeFile(
      kubeconfigPath,
      kubeconfigText(
        `{server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}`,
        '{token: secret-token}',
      ),
    );
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('lists every denied permission in one sentence with the fix, and asks about each requirement', async () => {
    const failure = await checkAccess(connect({ kubeconfigPath })).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(
      /^The kubeconfig's user may not create pods\/exec, patch virtualservices\.networking\.istio\.io on http:\/\/127\.0\.0\.1:\d+; bind it to the ClusterRole in ci\/rbac \(or ask a cluster admin to\) and retry\.$/,
    );
    expect((failure as Error).message).not.toContain('secret-token');
    expect(asked).toHaveLength(RUN_ACCESS_REQUIREMENTS.length);
  });

  it('passes when everything asked is allowed', async () => {
    denied.clear();
    await expect(checkAccess(connect({ kubeconfigPath }))).resolves.toBeUndefined();
  });
});

describe('RUN_ACCESS_REQUIREMENTS', () => {
  it('asks for the reads detection depends on: daemonsets (the CNI) and Telemetry resources (access logging)', () => {
    expect(RUN_ACCESS_REQUIREMENTS.map(describeAccess)).toEqual(
      expect.arrayContaining(['list daemonsets.apps', 'list telemetries.telemetry.istio.io']),
    );
  });
});

describe('the shipped least-privilege ClusterRole', () => {
  it('grants every permission the preflight asks for', async () => {
    const { readFile } = await import('node:fs/promises');
    const { parseAllDocuments } = await import('yaml');
    const text = await readFile(
      new URL('../ci/rbac/egress-conformance-rbac.yaml', import.meta.url),
      'utf8',
    );
    const role = parseAllDocuments(text)
      .map(
        (document) =>
          document.toJSON() as {
            kind?: string;
            rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
          },
      )
      .find((object) => object?.kind === 'ClusterRole');
    const missing = RUN_ACCESS_REQUIREMENTS.filter(
      ({ verb, group, resource, subresource }) =>
        !(role?.rules ?? []).some(
          (rule) =>
            rule.apiGroups.includes(group) &&
            rule.resources.includes(subresource ? `${resource}/${subresource}` : resource) &&
            rule.verbs.includes(verb),
        ),
    ).map(describeAccess);
    expect(missing).toEqual([]);
  });
});
