// The frame of every upgrade entry, on a provider that fails: the error said once, what may
// be left when the API server stopped answering, the cluster released, the reports written.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseCli } from '../cli-options.ts';
import { EnvironmentError } from '../errors.ts';
import { ApiUnavailableError } from '../k8s/retry.ts';
import { leftoversSentence, type RunPlace } from '../leftovers.ts';
import { runEntry } from './entry.ts';
import type { UpgradeRunOptions } from './session.ts';

const DOWN =
  'The Kubernetes API server at https://127.0.0.1:6443 stopped answering for 60000 ms (during "preflight"); check that the cluster is up.';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egc-entry-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function checkRun(preflight: () => Promise<void>) {
  const options = parseCli([
    '--cluster',
    'existing',
    '--kubeconfig',
    '/home/me/.kube/config',
    '--disruption',
    'check',
    '--id',
    'def456',
    '--reports',
    dir,
  ]);
  const complaints: string[] = [];
  const released: boolean[] = [];
  const place = (): RunPlace => ({ ...options, runId: 'abc123', probesOf: 'def456' });
  const run: UpgradeRunOptions = {
    options,
    upgrade: options.upgrade!,
    runId: 'abc123',
    runDir: path.join(dir, 'run'),
    reportsDir: dir,
    argv: [],
    say: () => {},
    complain: (line) => complaints.push(line),
    signal: new AbortController().signal,
    place,
    createProvider: () =>
      Promise.resolve({
        kind: 'existing',
        preflight,
        provision: () => Promise.reject(new Error('not reached')),
        release: ({ keep }) => {
          released.push(keep);
          return Promise.resolve();
        },
      }),
  };
  return { run, complaints, released, place };
}

describe('the frame of an upgrade entry', () => {
  it('an API server that stopped answering: exit 2, its sentence, what may be left of both runs', async () => {
    const { run, complaints, released, place } = checkRun(() =>
      Promise.reject(new ApiUnavailableError('https://127.0.0.1:6443', DOWN)),
    );
    const code = await runEntry(run, {
      istioVersion: '1.31.1',
      keepCluster: false,
      id: 'def456',
      body: () => Promise.reject(new Error('not reached')),
    });
    expect(code).toBe(2);
    expect(complaints).toEqual([DOWN, leftoversSentence(place())]);
    expect(complaints[1]).toContain("-l 'egress-conformance.io/run in (abc123,def456)'");
    expect(released).toEqual([false]);
    const report = parse(await readFile(path.join(dir, 'conformance.yaml'), 'utf8')) as {
      upgrade?: { mode: string; id: string; result: string };
    };
    expect(report.upgrade).toMatchObject({ mode: 'check', id: 'def456', result: 'not measured' });
  });

  it('any other environment error: exit 2 and its first line alone', async () => {
    const { run, complaints } = checkRun(() =>
      Promise.reject(new EnvironmentError('No cluster at /home/me/.kube/config.\ndetail')),
    );
    const code = await runEntry(run, {
      istioVersion: '1.31.1',
      keepCluster: false,
      body: () => Promise.reject(new Error('not reached')),
    });
    expect(code).toBe(2);
    expect(complaints).toEqual(['No cluster at /home/me/.kube/config.']);
  });
});
