// The simulated API server exercised through @kubernetes/client-node 2.x exactly as the
// harness uses it: a kubeconfig file, the typed APIs, KubernetesObjectApi with discovery,
// Exec and Log.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import {
  ApiException,
  ApisApi,
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  Exec,
  KubeConfig,
  KubernetesObjectApi,
  Log,
  PatchStrategy,
  setHeaderOptions,
  VersionApi,
  Watch,
  type KubernetesObject,
  type V1Status,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSimOptions, startSimulatedCluster, type SimulatedCluster } from './cluster.ts';
import type { ExecHandler, ExecRequest } from './types.ts';

const POD_START_MS = 300;
const PROPAGATION_MS = 5_000;
const MANAGER = 'egress-conformance';

/** A stand-in for the mesh model: `sh -c "exit N"`, `echo ...`, anything else fails. */
const fakeExec: ExecHandler = {
  async exec(request: ExecRequest) {
    const [program, ...args] = request.command;
    if (program === 'sh' && args[0] === '-c' && /^exit \d+$/.test(args[1] ?? '')) {
      return { stdout: '', stderr: `exiting\n`, exitCode: Number((args[1] ?? '').slice(5)) };
    }
    if (program === 'echo') {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { stdout: `${args.join(' ')}\n`, stderr: '', exitCode: 0 };
    }
    return { stdout: '', stderr: `${program ?? ''}: not found\n`, exitCode: 127 };
  },
};

let dir: string;
let cluster: SimulatedCluster;
let kc: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
let objects: KubernetesObjectApi;

interface Status {
  code: number;
  reason: string;
  message: string;
  details?: { causes?: { reason: string; message: string; field?: string }[] };
}

async function failure(
  promise: Promise<unknown>,
): Promise<{ code: number; status: Status | undefined }> {
  try {
    await promise;
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    const body: unknown = error.body;
    const status =
      typeof body === 'string' && body.startsWith('{')
        ? (JSON.parse(body) as Status)
        : (body as Status | undefined);
    return { code: error.code, status };
  }
  throw new Error('expected the request to fail');
}

async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} not observed after ${timeoutMs}ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function createNamespace(name: string, labels?: Record<string, string>): Promise<void> {
  await core.createNamespace({
    body: { metadata: { name, ...(labels === undefined ? {} : { labels }) } },
  });
}

async function runningPod(namespace: string, labelSelector: string) {
  return eventually(async () => {
    const pods = await core.listNamespacedPod({ namespace, labelSelector });
    return pods.items.find((pod) => pod.status?.phase === 'Running');
  }, `a Running pod ${labelSelector} in ${namespace}`);
}

function collect(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

async function exec(
  namespace: string,
  pod: string,
  container: string,
  command: string[],
): Promise<{ stdout: string; stderr: string; status: V1Status }> {
  const stdout = collect();
  const stderr = collect();
  const status = await new Promise<V1Status>((resolve, reject) => {
    new Exec(kc)
      .exec(namespace, pod, container, command, stdout.stream, stderr.stream, null, false, resolve)
      .catch(reject);
  });
  return { stdout: stdout.text(), stderr: stderr.text(), status };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'egress-sim-'));
  const options = readSimOptions({
    EGRESS_SIM_POD_START_MS: String(POD_START_MS),
    EGRESS_SIM_PROPAGATION_MS: String(PROPAGATION_MS),
    EGRESS_SIM_PROPAGATION_JITTER_MS: '0',
  });
  cluster = await startSimulatedCluster({
    options,
    dir,
    createExecHandler: () => fakeExec,
    // Long enough that the Terminating phase is still there for the requests after a delete
    // on a machine the end-to-end runs keep busy (150 ms, the default, was not always).
    namespaceDeletionMs: 2_000,
    istio: {
      version: '1.31.1',
      accessLogEncoding: 'JSON',
      outboundStatsIncluded: true,
      install: true,
    },
  });
  kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  objects = KubernetesObjectApi.makeApiClient(kc);
});

afterAll(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('simulated API server through @kubernetes/client-node', () => {
  it('writes a kubeconfig with CA data and a token, and serves version and discovery', async () => {
    expect(kc.getCurrentContext()).toBe('egress-conformance-simulated');
    expect(kc.getCurrentCluster()?.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(kc.getCurrentCluster()?.caData).toBeTruthy();
    expect(kc.getCurrentUser()?.token).toBeTruthy();

    const version = await kc.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe('v1.36.1');

    const groups = await kc.makeApiClient(ApisApi).getAPIVersions();
    const istio = groups.groups.find((group) => group.name === 'networking.istio.io');
    expect(istio?.preferredVersion?.version).toBe('v1');
    expect(istio?.versions.map((version) => version.version)).toEqual([
      'v1',
      'v1beta1',
      'v1alpha3',
    ]);

    const coreResources = await core.getAPIResources();
    expect(coreResources.resources.find((resource) => resource.name === 'pods')).toMatchObject({
      kind: 'Pod',
      namespaced: true,
      singularName: 'pod',
    });
    expect(coreResources.resources.some((resource) => resource.name === 'pods/exec')).toBe(true);

    // KubernetesObjectApi resolves kinds through discovery, including cluster scope.
    const namespace = await objects.read({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'istio-system' },
    });
    expect(namespace.metadata?.labels?.['kubernetes.io/metadata.name']).toBe('istio-system');

    const review = await kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: {
        spec: { resourceAttributes: { verb: 'create', resource: 'pods', namespace: 'default' } },
      },
    });
    expect(review.status?.allowed).toBe(true);
  });

  it('answers 401 without the right token', async () => {
    const stranger = new KubeConfig();
    stranger.loadFromFile(cluster.kubeconfigPath);
    const user = stranger.getCurrentUser();
    if (user === null) throw new Error('no user in kubeconfig');
    (user as { token?: string }).token = 'wrong';
    const { code } = await failure(stranger.makeApiClient(CoreV1Api).listNamespace());
    expect(code).toBe(401);
  });

  it('creates and updates an Istio resource with server-side apply', async () => {
    await createNamespace('ssa');
    const virtualService = (
      hosts: string[],
      extra: Record<string, unknown> = {},
    ): KubernetesObject =>
      ({
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'route', namespace: 'ssa', labels: { suite: 'ssa' } },
        // Istio's webhook refuses a VirtualService without routes.
        spec: {
          hosts,
          gateways: ['mesh'],
          http: [{ route: [{ destination: { host: hosts[0] } }] }],
          ...extra,
        },
      }) as KubernetesObject;

    const created = await objects.patch(
      virtualService(['a.example'], { exportTo: ['.'] }),
      undefined,
      undefined,
      MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
    expect(created.metadata?.generation).toBe(1);
    expect(created.metadata?.managedFields?.[0]).toMatchObject({
      manager: MANAGER,
      operation: 'Apply',
    });

    const updated = (await objects.patch(
      virtualService(['b.example']),
      undefined,
      undefined,
      MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    )) as KubernetesObject & { spec: Record<string, unknown> };
    expect(updated.metadata?.generation).toBe(2);
    expect(updated.spec.hosts).toEqual(['b.example']);
    // A field this manager stopped applying is removed: apply is declarative.
    expect(updated.spec.exportTo).toBeUndefined();
    expect(updated.metadata?.uid).toBe(created.metadata?.uid);

    // The same object is served at the older versions too.
    const old = await objects.read({
      apiVersion: 'networking.istio.io/v1alpha3',
      kind: 'VirtualService',
      metadata: { name: 'route', namespace: 'ssa' },
    });
    expect(old.apiVersion).toBe('networking.istio.io/v1alpha3');

    const list = await objects.list(
      'networking.istio.io/v1',
      'VirtualService',
      'ssa',
      undefined,
      undefined,
      undefined,
      undefined,
      'suite=ssa',
    );
    expect(list.items.map((item) => item.metadata?.name)).toEqual(['route']);

    // Another manager changing an owned field conflicts unless forced.
    const conflict = await failure(
      objects.patch(
        virtualService(['c.example']),
        undefined,
        undefined,
        'someone-else',
        false,
        PatchStrategy.ServerSideApply,
      ),
    );
    expect(conflict.code).toBe(409);
    expect(conflict.status?.message).toContain('conflict with "egress-conformance"');

    const missingManager = await failure(
      objects.patch(
        virtualService(['b.example']),
        undefined,
        undefined,
        undefined,
        undefined,
        PatchStrategy.ServerSideApply,
      ),
    );
    expect(missingManager.code).toBe(422);
    expect(missingManager.status?.message).toBe(
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    );
  });

  it("answers Istio's validating webhook as the API server reports webhooks: 400, no reason", async () => {
    await createNamespace('webhook');
    const route = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'tls', namespace: 'webhook' },
      spec: {
        hosts: ['a.example'],
        tls: [{ match: [{ sniHosts: [] }], route: [{ destination: { host: 'a.example' } }] }],
      },
    } as KubernetesObject;
    const message =
      'admission webhook "validation.istio.io" denied the request: configuration is invalid: TLS match must have at least one SNI host';
    for (const dryRun of [undefined, 'All']) {
      const denied = await failure(objects.create(route, undefined, dryRun));
      expect(denied.code).toBe(400);
      expect(denied.status).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        code: 400,
      });
    }
    // The CRD schema is checked first: without the key the webhook is never called.
    const withoutKey = structuredClone(route) as KubernetesObject & {
      spec: { tls: { match: Record<string, unknown>[] }[] };
    };
    delete withoutKey.spec.tls[0]?.match[0]?.sniHosts;
    const invalid = await failure(objects.create(withoutKey));
    expect(invalid.code).toBe(422);
    expect(invalid.status?.message).toBe(
      'VirtualService.networking.istio.io "tls" is invalid: spec.tls[0].match[0].sniHosts: Required value',
    );
  });

  it('merge-patches namespace labels and refuses strategic merge on custom resources with 415', async () => {
    await createNamespace('labels');
    const patched = await core.patchNamespace(
      { name: 'labels', body: { metadata: { labels: { 'istio-injection': 'enabled' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.metadata?.labels).toEqual({
      'istio-injection': 'enabled',
      'kubernetes.io/metadata.name': 'labels',
    });

    const jsonPatched = await core.patchNamespace(
      { name: 'labels', body: [{ op: 'remove', path: '/metadata/labels/istio-injection' }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    expect(jsonPatched.metadata?.labels).toEqual({ 'kubernetes.io/metadata.name': 'labels' });

    const gateway = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 'gw', namespace: 'labels' },
      spec: {
        selector: { istio: 'egressgateway' },
        servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['a.example'] }],
      },
    };
    await objects.create(gateway);
    // client-node's default patch strategy is strategic merge, which CRDs refuse.
    const refused = await failure(objects.patch(gateway));
    expect(refused.code).toBe(415);
    expect(refused.status?.reason).toBe('UnsupportedMediaType');
    expect(refused.status?.message).toBe(
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
    );
  });

  it('answers 404, 409 and 422 with the real Status objects', async () => {
    const missing = await failure(core.readNamespacedPod({ name: 'nope', namespace: 'default' }));
    expect(missing.code).toBe(404);
    expect(missing.status).toMatchObject({ reason: 'NotFound', message: 'pods "nope" not found' });

    const missingCr = await failure(
      objects.read({
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'nope', namespace: 'default' },
      }),
    );
    expect(missingCr.status?.message).toBe('destinationrules.networking.istio.io "nope" not found');

    await createNamespace('twice');
    const duplicate = await failure(createNamespace('twice'));
    expect(duplicate.code).toBe(409);
    expect(duplicate.status).toMatchObject({
      reason: 'AlreadyExists',
      message: 'namespaces "twice" already exists',
    });

    const badName = await failure(createNamespace('Not_Valid'));
    expect(badName.code).toBe(422);
    expect(badName.status?.message).toMatch(
      /^Namespace "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid": a lowercase RFC 1123 label/,
    );

    const badHosts = await failure(
      objects.create({
        apiVersion: 'networking.istio.io/v1',
        kind: 'VirtualService',
        metadata: { name: 'broken', namespace: 'twice' },
        spec: { hosts: 'a.example' },
      } as KubernetesObject),
    );
    expect(badHosts.code).toBe(422);
    expect(badHosts.status?.reason).toBe('Invalid');
    expect(badHosts.status?.details?.causes?.[0]).toMatchObject({
      field: 'spec.hosts',
      reason: 'FieldValueTypeInvalid',
    });

    const noHost = await failure(
      objects.create({
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'dr', namespace: 'twice' },
        spec: {},
      } as KubernetesObject),
    );
    expect(noHost.status?.message).toBe(
      'DestinationRule.networking.istio.io "dr" is invalid: spec.host: Required value',
    );

    const wrongNamespace = await failure(
      core.createNamespacedConfigMap({
        namespace: 'twice',
        body: { metadata: { name: 'cm', namespace: 'default' } },
      }),
    );
    expect(wrongNamespace.code).toBe(400);
    expect(wrongNamespace.status?.message).toBe(
      'the namespace of the provided object does not match the namespace sent on the request',
    );
  });

  it('keeps a deleted namespace Terminating, refuses new content in it, then removes it', async () => {
    await createNamespace('doomed');
    await core.createNamespacedConfigMap({
      namespace: 'doomed',
      body: { metadata: { name: 'settings' }, data: { a: 'b' } },
    });
    const deleted = (await core.deleteNamespace({ name: 'doomed' })) as unknown as {
      status?: { phase?: string };
    };
    expect(deleted.status?.phase).toBe('Terminating');
    const read = await core.readNamespace({ name: 'doomed' });
    expect(read.status?.phase).toBe('Terminating');
    expect(read.metadata?.deletionTimestamp).toBeDefined();

    const refused = await failure(
      core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'late' } } }),
    );
    expect(refused.code).toBe(403);
    expect(refused.status?.message).toBe(
      'configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated',
    );

    await eventually(async () => {
      const result = await failure(core.readNamespace({ name: 'doomed' })).catch(() => undefined);
      return result?.code === 404 ? true : undefined;
    }, 'namespace doomed gone');
    const configMaps = await core.listConfigMapForAllNamespaces({
      fieldSelector: 'metadata.namespace=doomed',
    });
    expect(configMaps.items).toEqual([]);
  });

  it('injects the sidecar by namespace label or pod label, at creation time', async () => {
    await createNamespace('injected', { 'istio-injection': 'enabled' });
    await createNamespace('plain');
    const deployment = (
      namespace: string,
      name: string,
      podLabels: Record<string, string> = {},
    ) => ({
      metadata: { name },
      spec: {
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name, ...podLabels } },
          spec: {
            containers: [
              {
                name: 'curl',
                image: 'curlimages/curl:8.11.1',
                command: ['/bin/sleep', 'infinity'],
              },
            ],
          },
        },
      },
    });
    await apps.createNamespacedDeployment({
      namespace: 'injected',
      body: deployment('injected', 'client'),
    });
    await apps.createNamespacedDeployment({
      namespace: 'plain',
      body: deployment('plain', 'client'),
    });
    await apps.createNamespacedDeployment({
      namespace: 'plain',
      body: deployment('plain', 'opted-in', { 'sidecar.istio.io/inject': 'true' }),
    });

    // Istio 1.31 on Kubernetes 1.36: the native-sidecar layout (harness/facts.ts).
    const injected = await runningPod('injected', 'app=client');
    expect(injected.spec?.containers.map((container) => container.name)).toEqual(['curl']);
    expect(
      injected.spec?.initContainers?.map((container) => [container.name, container.restartPolicy]),
    ).toEqual([
      ['istio-init', undefined],
      ['istio-proxy', 'Always'],
    ]);
    expect(injected.spec?.initContainers?.[1]?.image).toBe('docker.io/istio/proxyv2:1.31.1');
    expect(
      JSON.parse(injected.metadata?.annotations?.['sidecar.istio.io/status'] ?? '{}'),
    ).toMatchObject({
      initContainers: ['istio-init', 'istio-proxy'],
      containers: null,
    });
    const proxyStatus = injected.status?.initContainerStatuses?.find(
      (status) => status.name === 'istio-proxy',
    );
    expect(proxyStatus?.state?.running).toBeDefined();
    expect(injected.metadata?.name).toMatch(/^client-[a-z0-9]{10}-[a-z0-9]{5}$/);
    expect(injected.metadata?.ownerReferences?.[0]?.kind).toBe('ReplicaSet');
    expect(injected.spec?.nodeName).toBe('egress-conformance-control-plane');
    expect(injected.status?.podIP).toMatch(/^10\.244\./);

    const plain = await runningPod('plain', 'app=client');
    expect(plain.spec?.containers.map((container) => container.name)).toEqual(['curl']);
    const optedIn = await runningPod('plain', 'app in (opted-in)');
    expect(optedIn.spec?.initContainers?.map((container) => container.name)).toContain(
      'istio-proxy',
    );

    // Labelling the namespace afterwards does not change running pods.
    await core.patchNamespace(
      { name: 'plain', body: { metadata: { labels: { 'istio-injection': 'enabled' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const after = await core.readNamespacedPod({
      name: plain.metadata?.name ?? '',
      namespace: 'plain',
    });
    expect(after.spec?.containers.map((container) => container.name)).toEqual(['curl']);

    // Re-applying a pod manifest keeps what admission added (the sidecar, defaults);
    // changing the containers of a pod is refused as on a real cluster.
    const podManifest = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'solo', namespace: 'injected', labels: { app: 'solo' } },
      spec: { containers: [{ name: 'curl', image: 'curlimages/curl:8.11.1' }] },
    };
    await objects.patch(
      podManifest,
      undefined,
      undefined,
      MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
    const reapplied = await objects.patch(
      podManifest,
      undefined,
      undefined,
      MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
    const reappliedSpec = (
      reapplied as {
        spec?: { containers?: { name: string }[]; initContainers?: { name: string }[] };
      }
    ).spec;
    expect(reappliedSpec?.containers?.map((c) => c.name)).toEqual(['curl']);
    expect(reappliedSpec?.initContainers?.map((c) => c.name)).toEqual([
      'istio-init',
      'istio-proxy',
    ]);
    const immutable = await failure(
      objects.patch(
        { ...podManifest, spec: { containers: [{ name: 'other', image: 'busybox:1.36' }] } },
        undefined,
        undefined,
        MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      ),
    );
    expect(immutable.code).toBe(422);
    expect(immutable.status?.message).toMatch(
      /^Pod "solo" is invalid: spec: Forbidden: pod updates may not change fields/,
    );

    const events = await core.listNamespacedEvent({
      namespace: 'injected',
      fieldSelector: `involvedObject.name=${injected.metadata?.name ?? ''}`,
    });
    const reasons = events.items.map((event) => event.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Scheduled', 'Pulled', 'Created', 'Started']));
  });

  it('makes a deployment available only after the pod start delay', async () => {
    await createNamespace('slow');
    const started = Date.now();
    await apps.createNamespacedDeployment({
      namespace: 'slow',
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
          },
        },
      },
    });
    const early = await apps.readNamespacedDeployment({ name: 'web', namespace: 'slow' });
    expect(early.status?.readyReplicas ?? 0).toBe(0);
    const ready = await eventually(async () => {
      const deployment = await apps.readNamespacedDeployment({ name: 'web', namespace: 'slow' });
      const available = deployment.status?.conditions?.find(
        (condition) => condition.type === 'Available',
      );
      return available?.status === 'True' ? deployment : undefined;
    }, 'deployment web available');
    expect(Date.now() - started).toBeGreaterThanOrEqual(POD_START_MS - 20);
    expect(ready.status).toMatchObject({
      replicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
      updatedReplicas: 2,
      observedGeneration: 1,
    });

    // Deleting the deployment garbage-collects its replica set and pods.
    await apps.deleteNamespacedDeployment({ name: 'web', namespace: 'slow' });
    await eventually(async () => {
      const pods = await core.listNamespacedPod({ namespace: 'slow' });
      return pods.items.length === 0 ? true : undefined;
    }, 'pods of web deleted');
  });

  it('runs exec over WebSocket with exit codes in the status, many at once', async () => {
    await createNamespace('exec');
    await core.createNamespacedPod({
      namespace: 'exec',
      body: {
        metadata: { name: 'box', labels: { app: 'box' } },
        spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] },
      },
    });
    await runningPod('exec', 'app=box');

    const ok = await exec('exec', 'box', 'main', ['echo', 'hello']);
    expect(ok.stdout).toBe('hello\n');
    expect(ok.status).toEqual({ metadata: {}, status: 'Success' });

    const failed = await exec('exec', 'box', 'main', ['sh', '-c', 'exit 28']);
    expect(failed.stderr).toBe('exiting\n');
    expect(failed.status.status).toBe('Failure');
    expect(failed.status.reason).toBe('NonZeroExitCode');
    expect(failed.status.details?.causes).toEqual([{ reason: 'ExitCode', message: '28' }]);
    expect(failed.status.message).toBe(
      'command terminated with non-zero exit code: error executing command [sh -c exit 28], exit code 28',
    );

    const many = await Promise.all(
      Array.from({ length: 25 }, (_, index) => exec('exec', 'box', 'main', ['echo', `n${index}`])),
    );
    expect(many.map((result) => result.stdout)).toEqual(
      Array.from({ length: 25 }, (_, index) => `n${index}\n`),
    );

    await expect(exec('exec', 'box', 'sidecar', ['echo'])).rejects.toThrow(/400/);
    await expect(exec('exec', 'missing', 'main', ['echo'])).rejects.toThrow(/404/);
    const refused = await fetchStatus(
      '/api/v1/namespaces/exec/pods/box/exec?container=sidecar&command=echo',
      {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Protocol': 'v5.channel.k8s.io',
      },
    );
    expect(refused).toEqual({ code: 400, message: 'container sidecar is not valid for pod box' });
  });

  it('serves container logs filtered by sinceTime, and requires a container when there are several', async () => {
    await createNamespace('logs', { 'istio-injection': 'enabled' });
    await core.createNamespacedPod({
      namespace: 'logs',
      body: {
        metadata: { name: 'talker', labels: { app: 'talker' } },
        spec: {
          containers: [
            { name: 'app', image: 'busybox:1.36' },
            { name: 'helper', image: 'busybox:1.36' },
          ],
        },
      },
    });
    await runningPod('logs', 'app=talker');
    const now = Date.now();
    cluster.store.logs.append('logs', 'talker', 'istio-proxy', 'old line', new Date(now - 10_000));
    cluster.store.logs.append('logs', 'talker', 'istio-proxy', 'new line', new Date(now));

    const read = async (options: {
      sinceTime?: string;
      timestamps?: boolean;
      tailLines?: number;
    }): Promise<string> => {
      const output = new PassThrough();
      let text = '';
      output.on('data', (chunk: Buffer) => (text += chunk.toString()));
      const done = new Promise((resolve) => output.on('end', resolve));
      await new Log(kc).log('logs', 'talker', 'istio-proxy', output, options);
      await done;
      return text;
    };
    const since = await read({ sinceTime: new Date(now - 2_000).toISOString() });
    expect(since).toContain('new line');
    expect(since).not.toContain('old line');
    const all = await read({ timestamps: true });
    expect(all.split('\n')[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z old line$/);
    expect(await read({ tailLines: 1 })).toBe('new line\n');

    const ambiguous = await fetchStatus(`/api/v1/namespaces/logs/pods/talker/log`);
    expect(ambiguous.code).toBe(400);
    expect(ambiguous.message).toBe(
      'a container name must be specified for pod talker, choose one of: [app helper] or one of the init containers: [istio-init istio-proxy]',
    );
  });

  it('streams watch events', async () => {
    await createNamespace('watched');
    const seen: string[] = [];
    const controller = await new Watch(kc).watch(
      '/api/v1/namespaces/watched/configmaps',
      { labelSelector: 'watch=yes' },
      (type: string, object: { metadata?: { name?: string } }) =>
        seen.push(`${type} ${object.metadata?.name ?? ''}`),
      () => undefined,
    );
    try {
      await core.createNamespacedConfigMap({
        namespace: 'watched',
        body: { metadata: { name: 'a', labels: { watch: 'yes' } } },
      });
      await core.createNamespacedConfigMap({
        namespace: 'watched',
        body: { metadata: { name: 'b' } },
      });
      await core.deleteNamespacedConfigMap({ name: 'a', namespace: 'watched' });
      await eventually(
        () => Promise.resolve(seen.length >= 2 ? true : undefined),
        'two watch events',
      );
      // The kube-root-ca.crt ConfigMap has no label, so only `a` shows up.
      expect(seen).toEqual(['ADDED a', 'DELETED a']);
    } finally {
      controller.abort();
    }
  });

  it('shows config changes to the data plane only after the propagation delay', async () => {
    await createNamespace('propagation');
    const rule = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'egress', namespace: 'propagation' },
      spec: {
        host: 'istio-egressgateway.istio-system.svc.cluster.local',
        subsets: [{ name: 'cnn' }],
      },
    };
    const before = Date.now();
    await objects.patch(rule, undefined, undefined, MANAGER, true, PatchStrategy.ServerSideApply);
    const effectiveAt = cluster.store.effectiveAt('DestinationRule', 'propagation', 'egress') ?? 0;
    expect(effectiveAt).toBeGreaterThanOrEqual(before + PROPAGATION_MS);

    // Live reads see it at once; the data plane does not until the push lands.
    expect(cluster.store.get('DestinationRule', 'propagation', 'egress')).toBeDefined();
    expect(cluster.store.view().get('DestinationRule', 'propagation', 'egress')).toBeUndefined();
    expect(
      cluster.store.viewAt(effectiveAt).get('DestinationRule', 'propagation', 'egress'),
    ).toBeDefined();
    expect(cluster.store.viewAt(effectiveAt).list('DestinationRule', 'propagation')).toHaveLength(
      1,
    );

    // Pods are not configuration: they are visible at once.
    expect(cluster.store.view().list('Pod', 'istio-system').length).toBeGreaterThan(0);

    await objects.delete(rule);
    const goneAt = cluster.store.effectiveAt('DestinationRule', 'propagation', 'egress') ?? 0;
    expect(
      cluster.store.viewAt(goneAt - 1).get('DestinationRule', 'propagation', 'egress'),
    ).toBeDefined();
    expect(
      cluster.store.viewAt(goneAt).get('DestinationRule', 'propagation', 'egress'),
    ).toBeUndefined();
  });

  it('installs Istio: istiod, the egress gateway with its service, and the mesh config', async () => {
    const gateway = await runningPod('istio-system', 'istio=egressgateway');
    expect(gateway.spec?.serviceAccountName).toBe('istio-egressgateway-service-account');
    expect(gateway.spec?.containers.map((container) => container.name)).toEqual(['istio-proxy']);
    const service = await core.readNamespacedService({
      name: 'istio-egressgateway',
      namespace: 'istio-system',
    });
    expect(service.spec?.clusterIP).toMatch(/^10\.96\./);
    expect(service.spec?.ports?.map((port) => [port.name, port.port, port.targetPort])).toEqual([
      ['http2', 80, 8080],
      ['https', 443, 8443],
    ]);
    const mesh = await core.readNamespacedConfigMap({ name: 'istio', namespace: 'istio-system' });
    expect(mesh.data?.mesh).toContain('accessLogEncoding: JSON');
    expect(mesh.data?.mesh).toContain('cluster.outbound');
    const dns = await core.readNamespacedService({ name: 'kube-dns', namespace: 'kube-system' });
    expect(dns.spec?.clusterIP).toBe('10.96.0.10');
  });
});

/** A raw GET, for answers client-node's Log turns into a bare "Error occurred in log request". */
async function fetchStatus(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ code: number; message: string }> {
  const https = await import('node:https');
  const user = kc.getCurrentUser();
  const caData = kc.getCurrentCluster()?.caData ?? '';
  return new Promise((resolve, reject) => {
    const request = https.request(
      `${cluster.server}${path}`,
      {
        headers: { ...headers, Authorization: `Bearer ${user?.token ?? ''}` },
        ca: Buffer.from(caData, 'base64').toString(),
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () =>
          resolve({
            code: response.statusCode ?? 0,
            message: (JSON.parse(body) as { message: string }).message,
          }),
        );
      },
    );
    request.on('error', reject);
    request.end();
  });
}
