/**
 * Custom access-log formats on a cluster the harness did not set up (issue "Real clusters
 * as they are today", item 3). The simulated cluster runs the mesh model, so its egress
 * gateway really writes its entries in whatever format the mesh config asks for; the
 * harness must then stop with an environment error naming the setting, instead of letting
 * every gateway check report "bypassed the gateway" because the parser finds nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curlCommand } from '../../harness/curl.ts';
import { parseAccessLog } from '../../harness/envoy/access-log.ts';
import { EnvironmentError } from '../../harness/errors.ts';
import { detectIstio } from '../../harness/istio/detect.ts';
import { connect, type Kube } from '../../harness/k8s/client.ts';
import { execInPod } from '../../harness/k8s/exec.ts';
import { readContainerLog } from '../../harness/k8s/logs.ts';
import { createNamespace } from '../../harness/k8s/namespaces.ts';
import { applyObjects, mergePatch } from '../../harness/k8s/objects.ts';
import { listPods, waitForDeploymentReady } from '../../harness/k8s/workloads.ts';
import { loadManifests } from '../../harness/manifests.ts';
import { createExistingProvider } from '../../harness/providers/existing.ts';
import { DEFAULT_TIMEOUTS } from '../../harness/timeouts.ts';
import {
  type SimulatedCluster,
  readSimOptions,
  startSimulatedCluster,
} from '../../simulator/cluster.ts';
import { createMeshModel } from '../../simulator/mesh/model.ts';
import type { SimExternalHost } from '../../simulator/types.ts';

const HOST: SimExternalHost = {
  name: 'edition.cnn.com',
  mode: 'internet',
  subjectCN: 'cnn.com',
  issuerCN: 'GlobalSign Atlas R3 DV TLS CA 2024 Q4',
  address: '151.101.195.5',
};
const NAMESPACE = 'egc-alf01-http-gateway';

/** The mesh config `istioctl install` wrote, which each case edits as a platform team would. */
const BASE_MESH = {
  accessLogFile: '/dev/stdout',
  accessLogEncoding: 'TEXT',
  defaultConfig: {
    discoveryAddress: 'istiod.istio-system.svc:15012',
    proxyStatsMatcher: { inclusionPrefixes: ['cluster.outbound'] },
  },
  outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
  rootNamespace: 'istio-system',
  trustDomain: 'cluster.local',
};

/** A TEXT format a platform team might prefer: readable by people, not by the harness. */
const CUSTOM_TEXT =
  '%START_TIME% %REQ(:METHOD)% %REQ(:AUTHORITY)%%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% -> %UPSTREAM_CLUSTER% %RESPONSE_CODE%\n';

let dir: string;
let cluster: SimulatedCluster;
let kube: Kube;
let clientPod: string;
let gatewayPod: string;
let requests = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'egc-access-log-format-'));
  const options = { ...readSimOptions({}), externalHosts: [HOST] };
  cluster = await startSimulatedCluster({
    options,
    dir,
    createExecHandler: ({ view, logs }) => createMeshModel({ view, logs, options }),
    istio: {
      version: '1.31.1',
      accessLogEncoding: 'TEXT',
      outboundStatsIncluded: true,
      install: true,
    },
  });
  kube = connect({ kubeconfigPath: cluster.kubeconfigPath });
  await createNamespace(kube, {
    name: NAMESPACE,
    runId: 'alf01',
    labels: { 'istio-injection': 'enabled' },
  });
  const values = {
    name: 'egress-alf01',
    namespace: NAMESPACE,
    host: HOST.name,
    gatewayHost: 'istio-egressgateway.istio-system.svc.cluster.local',
    subset: 'egress',
    gatewaySelectorKey: 'istio',
    gatewaySelectorValue: 'egressgateway',
    clientName: 'curl',
    clientImage: 'curlimages/curl:8.11.1',
  };
  await applyObjects(kube, [
    ...loadManifests('base/client.yaml', values),
    ...loadManifests('http-gateway/istio-api', values),
  ]);
  const [client] = await waitForDeploymentReady(kube, {
    namespace: NAMESPACE,
    name: 'curl',
    timeoutMs: 20_000,
  });
  clientPod = client?.metadata?.name ?? '';
  const [gateway] = await listPods(kube, 'istio-system', 'istio=egressgateway');
  gatewayPod = gateway?.metadata?.name ?? '';
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Replaces the mesh config, as `kubectl edit cm istio -n istio-system` would. */
async function setMesh(mesh: Record<string, unknown>): Promise<void> {
  await mergePatch(
    kube,
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio', namespace: 'istio-system' },
      data: { mesh: stringify(mesh) },
    },
    'Editing the mesh config',
  );
}

/**
 * Sends one request through the gateway (the http-gateway suite's route) and returns the
 * gateway's log lines that mention it, and what the harness's parser makes of them.
 */
async function requestThroughGateway(): Promise<{ raw: string[]; parsed: number }> {
  requests += 1;
  const path = `/access-log-format-${requests}`;
  const since = new Date(Date.now() - 2000);
  const curl = await execInPod(kube, {
    namespace: NAMESPACE,
    pod: clientPod,
    container: 'curl',
    command: curlCommand({ url: `http://${HOST.name}${path}`, maxTimeSeconds: 5 }),
    timeoutMs: 10_000,
  });
  expect(curl.exitCode).toBe(0);
  const log = await readContainerLog(kube, {
    namespace: 'istio-system',
    pod: gatewayPod,
    container: 'istio-proxy',
    since,
  });
  const raw = log.split('\n').filter((line) => line.includes(path));
  const parsed = parseAccessLog(log).filter((entry) => entry.path === path).length;
  return { raw, parsed };
}

function existingProvider() {
  return createExistingProvider({
    runId: 'alf01',
    runDir: dir,
    kubeconfigPath: cluster.kubeconfigPath,
    existingClusterOk: true,
    external: { mode: 'internet' },
    timeouts: DEFAULT_TIMEOUTS,
  });
}

async function preflightFailure(): Promise<Error | undefined> {
  return existingProvider()
    .preflight()
    .then(
      () => undefined,
      (error: unknown) => error as Error,
    );
}

describe('access-log formats on an existing cluster (simulated, with the mesh model)', () => {
  it("control: Istio's default TEXT format is logged, parsed, and detected as usable", async () => {
    await setMesh(BASE_MESH);
    expect(await requestThroughGateway()).toMatchObject({ parsed: 1 });
    await expect(preflightFailure()).resolves.toBeUndefined();
  });

  it('meshConfig.accessLogFormat (TEXT): the gateway logs lines the parser cannot read, and the run stops with exit 2 naming the setting', async () => {
    await setMesh({ ...BASE_MESH, accessLogFormat: CUSTOM_TEXT });
    const { raw, parsed } = await requestThroughGateway();
    expect(raw).toHaveLength(1);
    expect(parsed).toBe(0);

    const failure = await preflightFailure();
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect(failure?.message).toMatch(/meshConfig\.accessLogFormat/);
    expect(failure?.message).toMatch(/remove meshConfig\.accessLogFormat/);
    expect(failure?.message.split(/\.\s/)).toHaveLength(1);
  });

  it('meshConfig.accessLogFormat shaping JSON: custom keys are unreadable too', async () => {
    await setMesh({
      ...BASE_MESH,
      accessLogEncoding: 'JSON',
      accessLogFormat: JSON.stringify({
        when: '%START_TIME%',
        request: '%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
        status: '%RESPONSE_CODE%',
        cluster: '%UPSTREAM_CLUSTER_RAW%',
      }),
    });
    const { raw, parsed } = await requestThroughGateway();
    expect(raw).toHaveLength(1);
    expect(JSON.parse(raw[0] ?? '{}')).toHaveProperty('status');
    expect(parsed).toBe(0);

    const failure = await detectIstio(kube).catch((error: unknown) => error as Error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(/meshConfig\.accessLogFormat/);
  });

  it('an envoyFileAccessLog provider with its own logFormat, enabled by meshConfig.defaultProviders, stops the run naming the provider', async () => {
    await setMesh({
      ...BASE_MESH,
      accessLogFile: '',
      extensionProviders: [
        {
          name: 'platform-text',
          envoyFileAccessLog: { path: '/dev/stdout', logFormat: { text: CUSTOM_TEXT } },
        },
      ],
      defaultProviders: { accessLogging: ['platform-text'] },
    });
    const { raw, parsed } = await requestThroughGateway();
    expect(raw).toHaveLength(1);
    expect(parsed).toBe(0);

    const failure = await preflightFailure();
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect(failure?.message).toMatch(/"platform-text"/);
    expect(failure?.message).toMatch(/meshConfig\.extensionProviders/);
  });

  it('access logs switched on only through the Telemetry providers (no accessLogFile) count as on', async () => {
    await setMesh({
      ...BASE_MESH,
      accessLogFile: '',
      defaultProviders: { accessLogging: ['envoy'] },
    });
    expect(await requestThroughGateway()).toMatchObject({ parsed: 1 });
    const istio = await detectIstio(kube);
    expect(istio.accessLog).toEqual({ enabled: true, encoding: 'TEXT' });
  });

  it('a readable provider beside a custom one is enough: the harness reads its lines and skips the others', async () => {
    await setMesh({
      ...BASE_MESH,
      extensionProviders: [
        {
          name: 'platform-text',
          envoyFileAccessLog: { path: '/dev/stdout', logFormat: { text: CUSTOM_TEXT } },
        },
      ],
      defaultProviders: { accessLogging: ['platform-text', 'envoy'] },
    });
    const { raw, parsed } = await requestThroughGateway();
    expect(raw).toHaveLength(2);
    expect(parsed).toBe(1);
    await expect(detectIstio(kube)).resolves.toMatchObject({
      accessLog: { enabled: true, encoding: 'TEXT' },
    });
  });
});
