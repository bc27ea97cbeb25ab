/**
 * The Kubernetes adapter against the simulated API server, through the same
 * client-node paths production uses (HTTPS with the server's CA, a bearer token).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedCluster, type SimulatedCluster } from '../../simulator/cluster.ts';
import type { ExecHandler } from '../../simulator/types.ts';
import { checkReachable, connect, type Kube } from '../../harness/k8s/client.ts';
import { applyObjects, deleteAndWait, readObject } from '../../harness/k8s/objects.ts';
import {
  createNamespace,
  deleteNamespaceAndWait,
  restoreNamespaceLabels,
  setNamespaceLabels,
} from '../../harness/k8s/namespaces.ts';
import { execInPod } from '../../harness/k8s/exec.ts';
import { readContainerLog } from '../../harness/k8s/logs.ts';
import { waitForDeploymentReady } from '../../harness/k8s/workloads.ts';
import { EnvironmentError } from '../../harness/errors.ts';

// A stand-in process table: `exit N` exits N, `echo X` prints X; enough to test the wire.
const fakeShell: ExecHandler = {
  exec({ command }) {
    const [program, ...args] = command;
    if (program === 'exit')
      return Promise.resolve({ stdout: '', stderr: 'bye\n', exitCode: Number(args[0]) });
    if (program === 'echo')
      return Promise.resolve({ stdout: `${args.join(' ')}\n`, stderr: '', exitCode: 0 });
    return Promise.resolve({ stdout: '', stderr: `sh: ${program}: not found\n`, exitCode: 127 });
  },
};

let dir: string;
let cluster: SimulatedCluster;
let kube: Kube;
const runId = 'adapt1';

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'egc-adapter-'));
  cluster = await startSimulatedCluster({
    options: { faults: new Set(), propagationMs: 0, propagationJitterMs: 0, podStartMs: 50 },
    createExecHandler: () => fakeShell,
    dir,
  });
  kube = connect({ kubeconfigPath: cluster.kubeconfigPath });
});

afterAll(async () => {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
});

const deployment = (namespace: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'curl', namespace },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'curl' } },
    template: {
      metadata: { labels: { app: 'curl' } },
      spec: {
        containers: [
          { name: 'curl', image: 'curlimages/curl', command: ['/bin/sleep', 'infinity'] },
        ],
      },
    },
  },
});

describe('Kubernetes adapter on the simulated API server', () => {
  it('reaches the server and reports its version', async () => {
    await expect(checkReachable(kube)).resolves.toMatch(/^v1\.\d+/);
  });

  it('turns an unreachable server into an environment error naming it', async () => {
    const text = await readFile(cluster.kubeconfigPath, 'utf8');
    const unreachable = path.join(dir, 'unreachable-kubeconfig');
    await writeFile(unreachable, text.replace(/https:\/\/127\.0\.0\.1:\d+/, 'https://127.0.0.1:1'));
    const error = await checkReachable(connect({ kubeconfigPath: unreachable })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as Error).message).toMatch(
      /^Cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:1 /,
    );
  });

  it('refuses a missing kubeconfig or context with an environment error', () => {
    expect(() => connect({ kubeconfigPath: path.join(dir, 'nope') })).toThrow(EnvironmentError);
    expect(() => connect({ kubeconfigPath: cluster.kubeconfigPath, context: 'nope' })).toThrow(
      /has no context "nope"/,
    );
  });

  it('applies by server-side apply (twice, idempotently), reads, deletes and waits', async () => {
    await createNamespace(kube, { name: 'egc-adapt-a', runId });
    const serviceEntry = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'host', namespace: 'egc-adapt-a' },
      spec: {
        hosts: ['example.test'],
        ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
        resolution: 'DNS',
      },
    };
    const [first] = await applyObjects(kube, [serviceEntry]);
    const [second] = await applyObjects(kube, [serviceEntry]);
    expect((second?.metadata as { uid?: string }).uid).toBe(
      (first?.metadata as { uid?: string }).uid,
    );
    expect(await readObject(kube, serviceEntry)).toBeDefined();
    await deleteAndWait(kube, serviceEntry, { timeoutMs: 5000 });
    expect(await readObject(kube, serviceEntry)).toBeUndefined();
    // Deleting what is already gone is fine.
    await deleteAndWait(kube, serviceEntry, { timeoutMs: 5000 });
  });

  it('reports an object the server rejects with the server message', async () => {
    await expect(
      applyObjects(kube, [
        {
          // Istio's CRD schema requires a DestinationRule's host: the API server refuses it
          // (422) before any webhook, with or without istiod.
          apiVersion: 'networking.istio.io/v1',
          kind: 'DestinationRule',
          metadata: { name: 'no-host', namespace: 'egc-adapt-a' },
          spec: { subsets: [] },
        },
      ]),
    ).rejects.toThrow(
      /Applying DestinationRule egc-adapt-a\/no-host failed: HTTP 422 Invalid: .*host/,
    );
  });

  it('reads a missing object as undefined (404)', async () => {
    expect(
      await readObject(kube, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'absent', namespace: 'default' },
      }),
    ).toBeUndefined();
  });

  it('sets namespace labels and restores them exactly, absent ones removed', async () => {
    await applyObjects(kube, [
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: 'borrowed', labels: { keep: 'me', istio: 'old' } },
      },
    ]);
    const previous = await setNamespaceLabels(kube, 'borrowed', {
      istio: 'system',
      'kube-system': 'true',
    });
    expect(previous).toEqual({ istio: 'old', 'kube-system': undefined });
    await restoreNamespaceLabels(kube, 'borrowed', previous);
    const labels = (await kube.core.readNamespace({ name: 'borrowed' })).metadata?.labels ?? {};
    expect(labels.istio).toBe('old');
    expect(labels.keep).toBe('me');
    expect('kube-system' in labels).toBe(false);
  });

  it('waits for a deployment, execs with exit codes, and reads logs since a time', async () => {
    await createNamespace(kube, { name: 'egc-adapt-b', runId });
    await applyObjects(kube, [deployment('egc-adapt-b')]);
    const [pod] = await waitForDeploymentReady(kube, {
      namespace: 'egc-adapt-b',
      name: 'curl',
      timeoutMs: 5000,
    });
    const name = pod?.metadata?.name ?? '';
    const ok = await execInPod(kube, {
      namespace: 'egc-adapt-b',
      pod: name,
      container: 'curl',
      command: ['echo', 'hi'],
      timeoutMs: 5000,
    });
    expect(ok).toEqual({ stdout: 'hi\n', stderr: '', exitCode: 0 });
    const failed = await execInPod(kube, {
      namespace: 'egc-adapt-b',
      pod: name,
      container: 'curl',
      command: ['exit', '28'],
      timeoutMs: 5000,
    });
    expect(failed).toEqual({ stdout: '', stderr: 'bye\n', exitCode: 28 });
    await expect(
      execInPod(kube, {
        namespace: 'egc-adapt-b',
        pod: 'no-such-pod',
        container: 'curl',
        command: ['echo'],
        timeoutMs: 5000,
      }),
    ).rejects.toThrow(/exec in egc-adapt-b\/no-such-pod container curl failed/);

    const before = new Date(Date.now() - 5000);
    cluster.store.logs.append('egc-adapt-b', name, 'curl', 'old line', before);
    const since = new Date();
    cluster.store.logs.append(
      'egc-adapt-b',
      name,
      'curl',
      'new line',
      new Date(since.getTime() + 1500),
    );
    const text = await readContainerLog(kube, {
      namespace: 'egc-adapt-b',
      pod: name,
      container: 'curl',
      since: new Date(since.getTime() + 1000),
    });
    expect(text).toContain('new line');
    expect(text).not.toContain('old line');
  });

  it('deletes only namespaces carrying the run label, and waits until they are gone', async () => {
    await expect(
      deleteNamespaceAndWait(kube, { name: 'borrowed', runId, timeoutMs: 5000 }),
    ).rejects.toThrow(/Refusing to delete namespace borrowed/);
    await deleteNamespaceAndWait(kube, { name: 'egc-adapt-b', runId, timeoutMs: 5000 });
    await expect(kube.core.readNamespace({ name: 'egc-adapt-b' })).rejects.toThrow();
  });
});
