/**
 * The kind path's Gateway API CRD install (harness/gateway-api-install.ts) against a local
 * HTTP server standing in for the GitHub release and a simulated cluster without the CRDs:
 * download, content check, cache, server-side apply, the wait for Established, and the errors
 * a user sees when the release cannot be had.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { missingGatewayApiKinds } from '../../harness/api-selection.ts';
import { EnvironmentError } from '../../harness/errors.ts';
import {
  cachedInstallFile,
  checkInstallFile,
  installGatewayApiCrds,
} from '../../harness/gateway-api-install.ts';
import { connect, type Kube } from '../../harness/k8s/client.ts';
import { DEFAULT_TIMEOUTS } from '../../harness/timeouts.ts';
import { GATEWAY_API_VERSION } from '../../harness/versions.ts';
import {
  kubeconfigYaml,
  readSimOptions,
  startSimulatedCluster,
  type SimulatedCluster,
} from '../../simulator/cluster.ts';
import { standardInstallYaml } from '../../simulator/gateway-api-crds.ts';
import { createMeshModel } from '../../simulator/mesh/model.ts';

let work: string;
let server: Server;
let baseUrl: string;
const served = new Map<string, string>();
const requests: string[] = [];
const timeouts = { ...DEFAULT_TIMEOUTS, crdEstablished: 5_000, pollInterval: 20 };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'egc-gwapi-install-'));
  server = createServer((request, response) => {
    requests.push(request.url ?? '');
    const body = served.get(request.url ?? '');
    if (body === undefined) response.writeHead(404).end('Not Found');
    else response.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/releases`;
  // The failing downloads never reach the cluster: a kubeconfig that leads nowhere will do.
  await writeFile(
    join(work, 'nowhere.kubeconfig'),
    kubeconfigYaml('https://127.0.0.1:1', '', 'unused'),
  );
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  served.clear();
  requests.length = 0;
});

/** A cluster as Kubernetes ships it: Istio's kinds, no Gateway API CRDs. */
async function clusterWithoutCrds(): Promise<{ cluster: SimulatedCluster; kube: Kube }> {
  const options = {
    ...readSimOptions({ EGRESS_SIM_PROFILE: 'no-gateway-api' }),
    externalHosts: [],
  };
  const cluster = await startSimulatedCluster({
    options,
    dir: await mkdtemp(join(work, 'cluster-')),
    createExecHandler: ({ view, logs }) => createMeshModel({ view, logs, options }),
    istio: {
      version: '1.31.1',
      accessLogEncoding: 'TEXT',
      outboundStatsIncluded: true,
      install: true,
    },
  });
  return { cluster, kube: connect({ kubeconfigPath: cluster.kubeconfigPath }) };
}

const assetPath = `/releases/${GATEWAY_API_VERSION}/standard-install.yaml`;

describe('installGatewayApiCrds', { timeout: 60_000 }, () => {
  it('downloads the release asset, caches it, applies it server-side and waits until the kinds are served', async () => {
    const { cluster, kube } = await clusterWithoutCrds();
    try {
      expect(await missingGatewayApiKinds(kube)).toHaveLength(3);
      served.set(assetPath, standardInstallYaml(GATEWAY_API_VERSION));
      const cacheDir = join(work, 'cache-ok');
      const installed = await installGatewayApiCrds({
        kube,
        version: GATEWAY_API_VERSION,
        cacheDir,
        baseUrl,
        timeouts,
      });
      expect(installed.source).toBe('download');
      expect(installed.crds).toEqual(
        expect.arrayContaining([
          'gateways.gateway.networking.k8s.io',
          'httproutes.gateway.networking.k8s.io',
          'tlsroutes.gateway.networking.k8s.io',
        ]),
      );
      expect(requests).toEqual([assetPath]);
      expect(await missingGatewayApiKinds(kube)).toEqual([]);
      // Stored as applied, with the status the API server's naming controller sets.
      const crd = cluster.store.get(
        'CustomResourceDefinition',
        undefined,
        'tlsroutes.gateway.networking.k8s.io',
      );
      expect(crd?.metadata.managedFields).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ manager: 'egress-conformance', operation: 'Apply' }),
        ]),
      );
      expect(crd?.status).toMatchObject({
        conditions: expect.arrayContaining([
          expect.objectContaining({ type: 'Established', status: 'True' }),
        ]) as unknown,
      });
      expect(await readFile(cachedInstallFile(cacheDir, GATEWAY_API_VERSION), 'utf8')).toBe(
        standardInstallYaml(GATEWAY_API_VERSION),
      );

      // The second install reads the cache: no request.
      requests.length = 0;
      const again = await installGatewayApiCrds({
        kube,
        version: GATEWAY_API_VERSION,
        cacheDir,
        baseUrl,
        timeouts,
      });
      expect(again.source).toBe('cache');
      expect(requests).toEqual([]);
    } finally {
      await cluster.stop();
    }
  });

  it('a missing release is an environment error naming the URL, the HTTP status and where to put the file', async () => {
    const cacheDir = join(work, 'cache-404');
    const failure = await installGatewayApiCrds({
      kube: connect({ kubeconfigPath: join(work, 'nowhere.kubeconfig') }),
      version: GATEWAY_API_VERSION,
      cacheDir,
      baseUrl,
      timeouts,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toBe(
      `Downloading the Gateway API ${GATEWAY_API_VERSION} CRDs from ${baseUrl}/${GATEWAY_API_VERSION}/standard-install.yaml failed with HTTP 404; check that the release exists (versions.json gatewayApi), or place its standard-install.yaml at ${cachedInstallFile(cacheDir, GATEWAY_API_VERSION)}.`,
    );
  });

  it('a file of another release is refused and not cached', async () => {
    served.set(assetPath, standardInstallYaml('v1.4.1'));
    const cacheDir = join(work, 'cache-wrong');
    const failure = await installGatewayApiCrds({
      kube: connect({ kubeconfigPath: join(work, 'nowhere.kubeconfig') }),
      version: GATEWAY_API_VERSION,
      cacheDir,
      baseUrl,
      timeouts,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(
      new RegExp(
        `^${baseUrl}/${GATEWAY_API_VERSION}/standard-install\\.yaml is not the Gateway API ${GATEWAY_API_VERSION} standard install file \\(CustomResourceDefinition gatewayclasses\\.gateway\\.networking\\.k8s\\.io is bundle v1\\.4\\.1, channel standard\\)`,
      ),
    );
    expect(existsSync(cachedInstallFile(cacheDir, GATEWAY_API_VERSION))).toBe(false);
  });
});

describe('checkInstallFile', () => {
  const check = (text: string) => () =>
    checkInstallFile(text, { version: GATEWAY_API_VERSION, source: 'the file' });

  it('accepts the release file and returns its objects in order', () => {
    expect(check(standardInstallYaml(GATEWAY_API_VERSION))().map((o) => o.metadata?.name)).toEqual([
      'gatewayclasses.gateway.networking.k8s.io',
      'gateways.gateway.networking.k8s.io',
      'httproutes.gateway.networking.k8s.io',
      'tlsroutes.gateway.networking.k8s.io',
    ]);
  });

  it('names a CRD the suites need that the file lacks', () => {
    const withoutTlsRoute = standardInstallYaml(GATEWAY_API_VERSION)
      .split('---\n')
      .filter((document) => !document.includes('name: tlsroutes.'))
      .join('---\n');
    expect(check(withoutTlsRoute)).toThrow(/\(no CRD tlsroutes\.gateway\.networking\.k8s\.io\)/);
  });

  it('refuses what is not YAML (a proxy page) and alias bombs', () => {
    expect(check('<html>\n  <body>: [</html>')).toThrow(
      /^the file is not the Gateway API v\d+\.\d+\.\d+ standard install file \(document 1 is not YAML: [^\n]*\); delete it/,
    );
    const bomb = `a: &a [x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`;
    expect(check(bomb)).toThrow(/is not the Gateway API/);
  });
});
