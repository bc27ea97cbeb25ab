import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, type KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvironmentError } from '../../harness/errors.ts';
import { UnreadableAccessLogError } from '../../harness/istio/access-log-settings.ts';
import { type Kube, connect } from '../../harness/k8s/client.ts';
import { mergePatch } from '../../harness/k8s/objects.ts';
import {
  type SimulatedCluster,
  readSimOptions,
  startSimulatedCluster,
} from '../../simulator/cluster.ts';
import {
  detectIstio,
  imageVersion,
  readMeshSettings,
  statsMatcherIncludesOutbound,
} from '../../harness/istio/detect.ts';

describe('readMeshSettings', () => {
  it("applies Istio's defaults to an empty mesh config", () => {
    expect(readMeshSettings('')).toEqual({
      accessLog: { enabled: false, encoding: 'TEXT' },
      outboundStatsIncluded: false,
      outboundTrafficPolicy: 'ALLOW_ANY',
      trustDomain: 'cluster.local',
    });
  });

  it('reads access logging, the stats matcher, the outbound policy and the trust domain', () => {
    const mesh = [
      'accessLogFile: /dev/stdout',
      'accessLogEncoding: JSON',
      'outboundTrafficPolicy: {mode: REGISTRY_ONLY}',
      'trustDomain: example.org',
      'rootNamespace: istio-config',
      'defaultConfig:',
      '  proxyStatsMatcher:',
      '    inclusionPrefixes: [cluster.outbound]',
    ].join('\n');
    expect(readMeshSettings(mesh)).toEqual({
      accessLog: { enabled: true, encoding: 'JSON' },
      outboundStatsIncluded: true,
      outboundTrafficPolicy: 'REGISTRY_ONLY',
      trustDomain: 'example.org',
      rootNamespace: 'istio-config',
    });
  });
});

describe('statsMatcherIncludesOutbound', () => {
  it.each([
    [{ inclusionPrefixes: ['cluster.outbound'] }, true],
    [{ inclusionPrefixes: ['cluster_manager', 'cluster.'] }, true],
    [{ inclusionPrefixes: ['cluster'] }, true],
    [{ inclusionPrefixes: ['cluster.outbound|80||'] }, false],
    [{ inclusionPrefixes: ['cluster_manager', 'listener_manager'] }, false],
    [{ inclusionSuffixes: ['upstream_cx_total', 'upstream_rq_total'] }, true],
    [{ inclusionSuffixes: ['upstream_rq_total'] }, false],
    [{ inclusionRegexps: ['cluster\\.outbound\\|.*'] }, true],
    [{ inclusionRegexps: ['outbound'] }, false],
    [{ inclusionRegexps: ['(unclosed'] }, false],
    [undefined, false],
  ])('%j keeps the per-upstream counters: %s', (matcher, expected) => {
    expect(statsMatcherIncludesOutbound(matcher)).toBe(expected);
  });
});

describe('imageVersion', () => {
  it.each([
    ['registry.istio.io/release/pilot:1.31.1', '1.31.1'],
    ['docker.io/istio/pilot:1.30.5-distroless', '1.30.5'],
    ['localhost:5000/istio/pilot:1.31.0-rc.0@sha256:abc', '1.31.0-rc.0'],
    ['mirror.example:5000/pilot:custom-build', 'custom-build'],
    ['mirror.example:5000/pilot', 'unknown (untagged image)'],
  ])('%s → %s', (image, version) => {
    expect(imageVersion(image)).toBe(version);
  });
});

describe('detectIstio against the simulated API server', () => {
  let cluster: SimulatedCluster | undefined;
  let dir: string | undefined;

  async function start(istio?: {
    accessLogEncoding: 'TEXT' | 'JSON';
    outboundStatsIncluded: boolean;
  }): Promise<SimulatedCluster> {
    dir = await mkdtemp(join(tmpdir(), 'egc-detect-'));
    cluster = await startSimulatedCluster({
      options: readSimOptions({}),
      dir,
      // detectIstio never execs; a stub keeps this test independent of the mesh model.
      createExecHandler: () => ({
        exec: () => Promise.resolve({ stdout: '', stderr: 'no exec here', exitCode: 126 }),
      }),
      ...(istio ? { istio: { version: '1.30.5', install: true, ...istio } } : {}),
    });
    return cluster;
  }

  afterEach(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    cluster = undefined;
  });

  it('describes the installed Istio: version, revision, gateway, mesh settings', async () => {
    const sim = await start({ accessLogEncoding: 'JSON', outboundStatsIncluded: true });
    const istio = await detectIstio(connect({ kubeconfigPath: sim.kubeconfigPath }));
    expect(istio).toEqual({
      version: '1.30.5',
      revision: 'default',
      namespace: 'istio-system',
      gateway: {
        namespace: 'istio-system',
        serviceName: 'istio-egressgateway',
        selector: { key: 'istio', value: 'egressgateway' },
        serviceAccount: 'istio-egressgateway-service-account',
      },
      accessLog: { enabled: true, encoding: 'JSON' },
      outboundStatsIncluded: true,
      outboundTrafficPolicy: 'ALLOW_ANY',
      trustDomain: 'cluster.local',
    });
  });

  it('reports TEXT logs and missing outbound stats as installed', async () => {
    const sim = await start({ accessLogEncoding: 'TEXT', outboundStatsIncluded: false });
    const istio = await detectIstio(connect({ kubeconfigPath: sim.kubeconfigPath }));
    expect(istio.accessLog).toEqual({ enabled: true, encoding: 'TEXT' });
    expect(istio.outboundStatsIncluded).toBe(false);
  });

  it('says plainly that there is no Istio, and that the run will not install one', async () => {
    const sim = await start();
    const failure = await detectIstio(connect({ kubeconfigPath: sim.kubeconfigPath })).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(
      /^No istiod deployment \(label app=istiod\) was found in any namespace of https:\/\/127\.0\.0\.1:\d+; install Istio with an egress gateway first/,
    );
  });

  it('names the missing egress gateway and the label it looked for', async () => {
    const sim = await start({ accessLogEncoding: 'JSON', outboundStatsIncluded: true });
    const kube = connect({ kubeconfigPath: sim.kubeconfigPath });
    await expect(
      detectIstio(kube, { gatewaySelector: { key: 'istio', value: 'my-egress' } }),
    ).rejects.toThrow(
      /^No egress gateway pods labelled istio=my-egress exist in any namespace of /,
    );
  });

  it('refuses to guess when an asked-for revision is not installed', async () => {
    const sim = await start({ accessLogEncoding: 'JSON', outboundStatsIncluded: true });
    await expect(
      detectIstio(connect({ kubeconfigPath: sim.kubeconfigPath }), { revision: 'canary' }),
    ).rejects.toThrow(
      /^No istiod of revision canary was found \(found: istio-system\/istiod \(revision default\)\)/,
    );
  });
});

/**
 * Telemetry resources. The simulated API server serves no telemetry.istio.io kinds, so the
 * answers to the Telemetry list calls are injected at the client; everything else (istiod,
 * mesh config, gateway pods and Service) comes from the simulated cluster.
 */
describe('detectIstio with Telemetry resources', () => {
  let cluster: SimulatedCluster | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    cluster = undefined;
  });

  async function startWithMesh(mesh: Record<string, unknown>): Promise<Kube> {
    dir = await mkdtemp(join(tmpdir(), 'egc-detect-telemetry-'));
    cluster = await startSimulatedCluster({
      options: readSimOptions({}),
      dir,
      createExecHandler: () => ({
        exec: () => Promise.resolve({ stdout: '', stderr: 'no exec here', exitCode: 126 }),
      }),
      istio: {
        version: '1.31.1',
        accessLogEncoding: 'TEXT',
        outboundStatsIncluded: true,
        install: true,
      },
    });
    const kube = connect({ kubeconfigPath: cluster.kubeconfigPath });
    await mergePatch(
      kube,
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'istio', namespace: 'istio-system' },
        data: {
          mesh: stringify({
            rootNamespace: 'istio-system',
            trustDomain: 'cluster.local',
            defaultConfig: { proxyStatsMatcher: { inclusionPrefixes: ['cluster.outbound'] } },
            ...mesh,
          }),
        },
      },
      'Editing the mesh config',
    );
    return kube;
  }

  /** The kube client, with Telemetry lists answered by `answer` and every call recorded. */
  function withTelemetry(
    kube: Kube,
    answer: (apiVersion: string, namespace: string) => KubernetesObject[],
    calls: string[] = [],
  ): Kube {
    const objects = new Proxy(kube.objects, {
      get(target, property, receiver) {
        if (property !== 'list') return Reflect.get(target, property, receiver) as unknown;
        return (apiVersion: string, kind: string, namespace?: string, ...rest: unknown[]) => {
          if (kind !== 'Telemetry') {
            return (target.list as (...args: unknown[]) => unknown)(
              apiVersion,
              kind,
              namespace,
              ...rest,
            );
          }
          calls.push(`${apiVersion} ${namespace ?? ''}`);
          return Promise.resolve({ items: answer(apiVersion, namespace ?? '') });
        };
      },
    });
    return { ...kube, objects };
  }

  const telemetry = (name: string, spec: Record<string, unknown>): KubernetesObject =>
    ({
      apiVersion: 'telemetry.istio.io/v1',
      kind: 'Telemetry',
      metadata: {
        name,
        namespace: 'istio-system',
        creationTimestamp: new Date('2026-01-01T00:00:00Z'),
      },
      spec,
    }) as KubernetesObject;

  it('counts access logs that only a Telemetry resource turns on, through a provider of any name', async () => {
    const kube = await startWithMesh({
      extensionProviders: [
        { name: 'platform-stdout', envoyFileAccessLog: { path: '/dev/stdout' } },
      ],
    });
    const calls: string[] = [];
    const lines: string[] = [];
    const istio = await detectIstio(
      withTelemetry(
        kube,
        (_version, namespace) =>
          namespace === 'istio-system'
            ? [
                telemetry('mesh-default', {
                  accessLogging: [{ providers: [{ name: 'platform-stdout' }] }],
                }),
              ]
            : [],
        calls,
      ),
      { log: (line) => lines.push(line) },
    );
    expect(istio.accessLog).toEqual({ enabled: true, encoding: 'TEXT' });
    expect(calls).toEqual(['telemetry.istio.io/v1 istio-system']);
    expect(lines.join('\n')).toContain(
      'provider "platform-stdout" → /dev/stdout (TEXT, readable; Telemetry istio-system/mesh-default)',
    );
  });

  it('stops with an environment error naming the Telemetry and the provider when its format is custom', async () => {
    const kube = await startWithMesh({
      accessLogFile: '/dev/stdout',
      extensionProviders: [
        {
          name: 'platform-json',
          envoyFileAccessLog: {
            path: '/dev/stdout',
            logFormat: { labels: { code: '%RESPONSE_CODE%' } },
          },
        },
      ],
    });
    const failure = await detectIstio(
      withTelemetry(kube, () => [
        telemetry('egress-logs', {
          selector: { matchLabels: { istio: 'egressgateway' } },
          accessLogging: [{ providers: [{ name: 'platform-json' }] }],
        }),
      ]),
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UnreadableAccessLogError);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as UnreadableAccessLogError).fromTelemetryResource).toBe(true);
    expect((failure as Error).message).toContain(
      'extension provider "platform-json" (meshConfig.extensionProviders), enabled by Telemetry istio-system/egress-logs',
    );
  });

  it("a Telemetry that turns the gateway's logging off overrides accessLogFile", async () => {
    const kube = await startWithMesh({ accessLogFile: '/dev/stdout' });
    const istio = await detectIstio(
      withTelemetry(kube, () => [
        telemetry('quiet', { accessLogging: [{ providers: [{ name: 'envoy' }], disabled: true }] }),
      ]),
    );
    expect(istio.accessLog.enabled).toBe(false);
  });

  it('falls back to v1alpha1 where v1 is not served (Istio before 1.22), and to none without the CRD', async () => {
    const kube = await startWithMesh({ accessLogFile: '/dev/stdout' });
    const calls: string[] = [];
    const notFound = (): never => {
      throw new ApiException(
        404,
        'Not Found',
        { reason: 'NotFound', message: 'the server could not find the requested resource' },
        {},
      );
    };
    const istio = await detectIstio(
      withTelemetry(
        kube,
        (version) => (version === 'telemetry.istio.io/v1' ? notFound() : []),
        calls,
      ),
    );
    expect(calls).toEqual([
      'telemetry.istio.io/v1 istio-system',
      'telemetry.istio.io/v1alpha1 istio-system',
    ]);
    expect(istio.accessLog.enabled).toBe(true);
    // The simulated API server itself serves neither: detection goes on with the mesh config.
    await expect(detectIstio(kube)).resolves.toMatchObject({ accessLog: { enabled: true } });
  });

  it('refuses to guess when it may not read Telemetry resources, naming the permission', async () => {
    const kube = await startWithMesh({ accessLogFile: '/dev/stdout' });
    const failure = await detectIstio(
      withTelemetry(kube, () => {
        throw new ApiException(
          403,
          'Forbidden',
          { reason: 'Forbidden', message: 'telemetries.telemetry.istio.io is forbidden' },
          {},
        );
      }),
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(
      /^Cannot list telemetries\.telemetry\.istio\.io in istio-system \(HTTP 403 Forbidden: telemetries\.telemetry\.istio\.io is forbidden\); grant get and list on telemetries\.telemetry\.istio\.io \(the ClusterRole in ci\/rbac does\)/,
    );
  });
});
