// Diagnostics collected from the simulated cluster through the real Kubernetes adapter:
// logs, exec, pods and events come over the API exactly as on kind. The exec handler
// here is a stand-in Envoy answering `pilot-agent request GET …`, so the collectors are
// tested independently of the mesh model.
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collectDiagnostics,
  ENVOY_DUMPS,
  type DiagnosticsSubject,
} from '../../harness/diagnostics.ts';
import { detectIstio } from '../../harness/istio/detect.ts';
import { connect, type Kube } from '../../harness/k8s/client.ts';
import { createNamespace } from '../../harness/k8s/namespaces.ts';
import { applyObjects } from '../../harness/k8s/objects.ts';
import { waitForDeploymentReady } from '../../harness/k8s/workloads.ts';
import {
  readSimOptions,
  startSimulatedCluster,
  type SimulatedCluster,
} from '../../simulator/cluster.ts';
import type { ExecHandler } from '../../simulator/types.ts';
import type { RunContext } from '../../harness/run-context.ts';
import { DEFAULT_TIMEOUTS } from '../../harness/timeouts.ts';
import { ISTIO_API } from '../../harness/api/istio-api.ts';

const privateKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const keyBody = privateKeyPem.split('\n')[1] ?? '';
const NAMESPACE = 'egc-diag01-passthrough-disabled';

/** A stand-in Envoy: dumps for every proxy, `stats` hangs on the gateway, `listeners` fails on clients. */
const envoy: ExecHandler = {
  async exec({ pod, container, command, signal }) {
    const [program, verb, method, adminPath] = command;
    if (
      program !== 'pilot-agent' ||
      verb !== 'request' ||
      method !== 'GET' ||
      container !== 'istio-proxy'
    )
      return { stdout: '', stderr: `${program ?? ''}: not found\n`, exitCode: 127 };
    const name = pod.metadata.name;
    const gateway = name.startsWith('istio-egressgateway');
    if (adminPath === 'stats' && gateway) {
      await new Promise((resolve) => signal?.addEventListener('abort', resolve));
      return { stdout: '', stderr: '', exitCode: 0 };
    }
    if (adminPath === 'listeners' && !gateway)
      return { stdout: '', stderr: 'admin: connection refused\n', exitCode: 1 };
    if (adminPath === 'config_dump') {
      const secret = {
        name: 'default',
        tls_certificate: {
          private_key: { inline_bytes: Buffer.from(privateKeyPem).toString('base64') },
        },
      };
      return {
        stdout: JSON.stringify({
          configs: [{ '@type': 'secrets', dynamic_active_secrets: [secret] }],
          pod: name,
        }),
        stderr: '',
        exitCode: 0,
      };
    }
    return { stdout: `${adminPath ?? ''} of ${name}\n`, stderr: '', exitCode: 0 };
  },
};

describe('collectDiagnostics on the simulated cluster', () => {
  let dir: string;
  let cluster: SimulatedCluster;
  let kube: Kube;
  let env: DiagnosticsSubject;
  let token: string;
  let clientPod: string;
  let gatewayPod: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'diagnostics-'));
    cluster = await startSimulatedCluster({
      options: readSimOptions({}),
      dir,
      createExecHandler: () => envoy,
      istio: {
        version: '1.31.1',
        accessLogEncoding: 'TEXT',
        outboundStatsIncluded: true,
        install: true,
      },
    });
    token = /token: (\S+)/.exec(await readFile(cluster.kubeconfigPath, 'utf8'))?.[1] ?? '';
    kube = connect({ kubeconfigPath: cluster.kubeconfigPath });
    const istio = await detectIstio(kube);
    await createNamespace(kube, {
      name: NAMESPACE,
      runId: 'diag01',
      labels: { 'istio-injection': 'enabled' },
    });
    const applied = await applyObjects(kube, [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'curl', namespace: NAMESPACE },
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
      } as KubernetesObject,
    ]);
    clientPod =
      (
        await waitForDeploymentReady(kube, {
          namespace: NAMESPACE,
          name: 'curl',
          timeoutMs: 10_000,
        })
      )[0]?.metadata?.name ?? '';
    gatewayPod =
      (
        await kube.core.listNamespacedPod({
          namespace: 'istio-system',
          labelSelector: 'istio=egressgateway',
        })
      ).items[0]?.metadata?.name ?? '';
    // The gateway logged the kubeconfig's token and a lot besides: both must be handled.
    cluster.store.logs.append(
      'istio-system',
      gatewayPod,
      'istio-proxy',
      `debug: upstream sent token ${token}`,
    );
    for (let line = 0; line < 2000; line += 1)
      cluster.store.logs.append(
        'istio-system',
        gatewayPod,
        'istio-proxy',
        `[2026-11-20T02:00:00.000Z] "GET /${line} HTTP/1.1" 200`,
      );
    const run: RunContext = {
      runId: 'diag01',
      target: {
        kind: 'simulated',
        simulated: true,
        kubeconfigPath: cluster.kubeconfigPath,
        kubernetesVersion: 'v1.36.1',
        cni: 'simulated',
        istio,
        externalHosts: {},
      },
      mtlsModes: ['disabled'],
      apis: ['istio-api'],
      timeouts: { ...DEFAULT_TIMEOUTS, exec: 1500 },
      requiredObservations: 3,
      clientImage: 'curlimages/curl',
      keepOnFailure: false,
      reportsDir: path.join(dir, 'reports'),
      manifestsDir: path.join(dir, 'manifests'),
    };
    env = {
      run,
      suite: 'passthrough',
      variantName: 'mtls-disabled-istio-api',
      gateway: ISTIO_API.gatewayUnderTest({ target: run.target, suite: 'passthrough', host: '' }),
      kube,
      createdNamespaces: [NAMESPACE],
      applied: [
        ...applied,
        // As if a test had applied a TLS Secret: its key must not reach the reports.
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'tls', namespace: NAMESPACE },
          stringData: { 'tls.key': privateKeyPem },
        } as KubernetesObject,
      ],
    };
  });

  afterAll(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('writes every collector’s file, records the ones that failed, and leaks no secret', async () => {
    const files = await collectDiagnostics(env, 'B3.1 TLS ends at the external host', {
      since: new Date(Date.now() - 60_000),
      maxFileBytes: 16 * 1024,
    });
    const folder =
      'diagnostics/passthrough/mtls-disabled-istio-api-b3.1-tls-ends-at-the-external-host';
    expect(files[0]).toBe(`${folder}/index.txt`);
    const gateway = `${folder}/gateway/${gatewayPod}`;
    const client = `${folder}/clients/${NAMESPACE}/${clientPod}`;
    expect(files).toEqual(
      expect.arrayContaining([
        `${folder}/gateway/pods.yaml`,
        `${folder}/gateway/events.txt`,
        `${gateway}/istio-proxy.log`,
        `${gateway}/config_dump.json`,
        `${gateway}/clusters.txt`,
        `${gateway}/listeners.txt`,
        `${gateway}/routes.json`,
        `${client}/istio-proxy.log`,
        `${client}/config_dump.json`,
        `${client}/routes.json`,
        `${client}/stats.txt`,
        `${folder}/namespaces/${NAMESPACE}/pods.yaml`,
        `${folder}/namespaces/${NAMESPACE}/events.txt`,
        `${folder}/applied-objects.yaml`,
      ]),
    );
    // The hung `stats` and the failed `listeners` are in the index, not in the files.
    expect(files).not.toContain(`${gateway}/stats.txt`);
    expect(files).not.toContain(`${client}/listeners.txt`);
    const read = (file: string): Promise<string> =>
      readFile(path.join(env.run.reportsDir, file), 'utf8');
    const index = await read(files[0] ?? '');
    expect(index).toContain(
      `pilot-agent request GET stats in istio-system/${gatewayPod}: exec in istio-system/${gatewayPod} container istio-proxy did not finish within 1500 ms`,
    );
    expect(index).toContain(
      `pilot-agent request GET listeners in ${NAMESPACE}/${clientPod}: exited 1: admin: connection refused`,
    );
    expect(index).toContain('istioctl analyze: skipped (simulated cluster');
    expect(index).toContain('SIMULATED');

    expect(await read(`${gateway}/routes.json`)).toBe(
      `config_dump?resource=dynamic_route_configs of ${gatewayPod}\n`,
    );
    expect(await read(`${folder}/namespaces/${NAMESPACE}/events.txt`)).toMatch(
      /Scheduled|Created|Started/,
    );
    expect(await read(`${folder}/namespaces/${NAMESPACE}/pods.yaml`)).toContain(
      'name: istio-proxy',
    );
    expect(await read(`${folder}/applied-objects.yaml`)).toMatch(
      /kind: Deployment[\s\S]*kind: Secret/,
    );
    expect(await read(`${folder}/applied-objects.yaml`)).not.toContain('managedFields');

    const log = await read(`${gateway}/istio-proxy.log`);
    expect(Buffer.byteLength(log)).toBeLessThanOrEqual(16 * 1024);
    expect(log).toMatch(/\[\.\.\. truncated \d+ bytes \.\.\.\]/);
    expect(log).toContain('"GET /1999 HTTP/1.1" 200');

    const everything = await Promise.all(files.map(read));
    for (const text of everything) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(keyBody);
      expect(text).not.toContain(Buffer.from(privateKeyPem).toString('base64').slice(0, 60));
    }
    const onDisk = await readdir(path.join(env.run.reportsDir, folder), {
      recursive: true,
      withFileTypes: true,
    });
    expect(onDisk.filter((entry) => entry.isFile())).toHaveLength(files.length);
  });

  it('runs istioctl analyze per namespace when given a binary, keeping its findings and exit code', async () => {
    const istioctl = path.join(dir, 'istioctl');
    await writeFile(
      istioctl,
      '#!/bin/sh\necho "Error [IST0101] (VirtualService x) Referenced host not found"\necho "args: $*"\nexit 79\n',
    );
    await chmod(istioctl, 0o755);
    const files = await collectDiagnostics(env, 'B3.2 gateway log', {
      istioctl,
      maxFileBytes: 16 * 1024,
    });
    const analyze = files.find((file) =>
      file.endsWith(`namespaces/${NAMESPACE}/istioctl-analyze.txt`),
    );
    expect(analyze).toBeDefined();
    const text = await readFile(path.join(env.run.reportsDir, analyze ?? ''), 'utf8');
    expect(text).toContain('# exit code 79');
    expect(text).toContain('IST0101');
    expect(text).toContain(`args: analyze -n ${NAMESPACE} --kubeconfig ${cluster.kubeconfigPath}`);
  });

  it('still writes an index when the cluster is unreachable', async () => {
    const gone: DiagnosticsSubject = {
      ...env,
      kube: connect({ kubeconfigPath: cluster.kubeconfigPath }),
      run: { ...env.run, timeouts: { ...env.run.timeouts, exec: 500 } },
    };
    gone.kube.core = new Proxy(gone.kube.core, {
      get: () => () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6443')),
    });
    const files = await collectDiagnostics(gone, 'B6 cleanup', { istioctl: null });
    expect(files.map((file) => path.posix.basename(file))).toEqual([
      'index.txt',
      'applied-objects.yaml',
    ]);
    const index = await readFile(path.join(env.run.reportsDir, files[0] ?? ''), 'utf8');
    expect(index).toContain(
      'listing the gateway pods (istio-system, istio=egressgateway): connect ECONNREFUSED',
    );
    expect(index).toContain(`events of ${NAMESPACE}: connect ECONNREFUSED`);
    expect(index).toContain('istioctl analyze: skipped (turned off)');
  });

  it('lists every Envoy dump it asks for', () => {
    expect(ENVOY_DUMPS.map((dump) => dump.path)).toEqual([
      'config_dump',
      'clusters',
      'listeners',
      'config_dump?resource=dynamic_route_configs',
      'stats',
      'certs',
    ]);
  });
});
