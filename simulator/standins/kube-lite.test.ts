// The stand-in istioctl's own Kubernetes client against a simulated cluster: kinds found by
// discovery (built-in, grouped and Istio's custom ones), server-side apply under the harness's
// field manager, 404 recognised, and kubeconfigs it cannot honour refused with a clear error.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIELD_MANAGER } from '../../harness/run-labels.ts';
import { WaitTimeoutError } from '../../harness/wait.ts';
import type { SimulatedCluster } from '../cluster.ts';
import { startApiOnlyCluster } from '../testing.ts';
import { asKindKubeconfig } from './kind-world.ts';
import { loadKubeconfig } from './kubeconfig.ts';
import {
  KubeApiError,
  KubeLite,
  connectLite,
  isNotFound,
  waitForDeploymentReady,
  type LiteObject,
} from './kube-lite.ts';

let dir: string;
let cluster: SimulatedCluster;
let kube: KubeLite;

beforeAll(async () => {
  ({ dir, cluster } = await startApiOnlyCluster('egress-sim-kube-lite-', '1.30.5'));
  kube = await connectLite({ kubeconfigPath: cluster.kubeconfigPath });
});

afterAll(async () => {
  kube?.close();
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** The simulated cluster's kubeconfig, changed by `edit`, written beside it. */
async function kubeconfigWith(
  name: string,
  edit: (config: {
    clusters: { cluster: Record<string, unknown> }[];
    users: { user: Record<string, unknown> }[];
  }) => void,
): Promise<string> {
  const config = YAML.parse(await readFile(cluster.kubeconfigPath, 'utf8')) as Parameters<
    typeof edit
  >[0];
  edit(config);
  const path = join(dir, name);
  await writeFile(path, YAML.stringify(config));
  return path;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

describe('kube-lite', () => {
  it('finds built-in, grouped and custom kinds by discovery, cluster-scoped and namespaced', async () => {
    const namespaces = await kube.list('v1', 'Namespace');
    expect(namespaces.map((n) => n.metadata?.name)).toContain('istio-system');
    const istiod = await kube.list('apps/v1', 'Deployment', { labelSelector: 'app=istiod' });
    expect(istiod.map((d) => `${d.metadata?.namespace}/${d.metadata?.name}`)).toEqual([
      'istio-system/istiod',
    ]);
    // Istio's kinds are custom resources: no table, discovery of networking.istio.io/v1.
    expect(await kube.list('networking.istio.io/v1', 'VirtualService')).toEqual([]);
    const deployment = await kube.readDeployment('istio-system', 'istiod');
    expect(deployment.metadata?.name).toBe('istiod');
    // The pods the readiness wait selects: the Deployment's own selector.
    expect(Object.keys(deployment.spec?.selector?.matchLabels ?? {})).not.toEqual([]);
  });

  it('server-side applies under the harness field manager, forcing conflicts, into the context namespace by default', async () => {
    const configMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'kube-lite-applied' },
      data: { key: 'one' },
    };
    const applied = await kube.apply<LiteObject & { data?: Record<string, string> }>(configMap);
    expect(applied.metadata?.namespace).toBe('default');
    expect(applied.data).toEqual({ key: 'one' });
    const managers = (
      applied.metadata as { managedFields?: { manager: string; operation: string }[] }
    ).managedFields;
    expect(managers).toContainEqual(
      expect.objectContaining({ manager: FIELD_MANAGER, operation: 'Apply' }),
    );
    // Another manager takes the field; the stand-in's apply takes it back (force=true), as
    // istioctl's does, instead of failing with 409.
    await kube.request('PATCH', '/api/v1/namespaces/default/configmaps/kube-lite-applied', {
      query: { fieldManager: 'someone-else', force: 'true' },
      body: JSON.stringify({ ...configMap, data: { key: 'theirs' } }),
      contentType: 'application/apply-patch+yaml',
    });
    const reapplied = await kube.apply<LiteObject & { data?: Record<string, string> }>({
      ...configMap,
      data: { key: 'two' },
    });
    expect(reapplied.data).toEqual({ key: 'two' });
    await kube.delete({
      ...configMap,
      metadata: { name: 'kube-lite-applied', namespace: 'default' },
    });
  });

  it('answers a missing object, a missing kind and a missing group with a 404 that isNotFound recognises', async () => {
    const missing = [
      () =>
        kube.read({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'absent', namespace: 'default' },
        }),
      () =>
        kube.delete({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'absent', namespace: 'default' },
        }),
      () => kube.read({ apiVersion: 'v1', kind: 'NoSuchKind', metadata: { name: 'x' } }),
      () => kube.list('nosuch.example.com/v1', 'Thing'),
    ];
    for (const attempt of missing) {
      const error = await failure(attempt());
      expect(error).toBeInstanceOf(KubeApiError);
      expect((error as KubeApiError).status).toBe(404);
      expect(isNotFound(error)).toBe(true);
    }
    expect(isNotFound(new Error('HTTP 404'))).toBe(false);
  });

  it('waits for a deployment by its ready pods, and times out naming it', async () => {
    const pods = await waitForDeploymentReady(kube, {
      namespace: 'istio-system',
      name: 'istiod',
      timeoutMs: 10_000,
    });
    expect(pods.length).toBeGreaterThan(0);
    expect(await kube.listPods('istio-system', 'app=istiod')).toHaveLength(pods.length);
    const error = await failure(
      waitForDeploymentReady(kube, {
        namespace: 'default',
        name: 'absent',
        timeoutMs: 300,
        intervalMs: 100,
      }),
    );
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error.message).toMatch(/deployment default\/absent to be ready/);
  });

  it('reads the kubeconfig the stand-in kind writes, and picks --context', async () => {
    const path = join(dir, 'kind-kubeconfig');
    await writeFile(path, asKindKubeconfig(await readFile(cluster.kubeconfigPath, 'utf8'), 'lite'));
    const kind = await connectLite({ kubeconfigPath: path, context: 'kind-lite' });
    try {
      expect(await kind.list('v1', 'Namespace')).not.toEqual([]);
    } finally {
      kind.close();
    }
    await expect(loadKubeconfig({ kubeconfigPath: path, context: 'other' })).rejects.toThrow(
      /has no context "other"; pass --context with one of: kind-lite\./,
    );
  });

  it('skips verification only when the kubeconfig says so; an unverified server fails at once, unretried', async () => {
    const insecure = await kubeconfigWith('insecure', (config) => {
      delete config.clusters[0]!.cluster['certificate-authority-data'];
      config.clusters[0]!.cluster['insecure-skip-tls-verify'] = true;
    });
    const skipping = await connectLite({ kubeconfigPath: insecure });
    try {
      expect(await skipping.list('v1', 'Namespace')).not.toEqual([]);
    } finally {
      skipping.close();
    }
    const noCa = await kubeconfigWith('no-ca', (config) => {
      delete config.clusters[0]!.cluster['certificate-authority-data'];
    });
    const verifying = await connectLite({ kubeconfigPath: noCa });
    const started = Date.now();
    try {
      const error = await failure(verifying.list('v1', 'Namespace'));
      expect(error.message).toMatch(
        /^GET \/api\/v1 to https:\/\/127\.0\.0\.1:\d+ failed: .*certificate/,
      );
    } finally {
      verifying.close();
    }
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('carries the status of a refused token', async () => {
    const wrong = await kubeconfigWith('wrong-token', (config) => {
      config.users[0]!.user.token = 'not-the-token';
    });
    const refused = await connectLite({ kubeconfigPath: wrong });
    try {
      const error = await failure(refused.list('v1', 'Namespace'));
      expect((error as KubeApiError).status).toBe(401);
    } finally {
      refused.close();
    }
  });

  it.each([
    [
      'exec',
      { apiVersion: 'client.authentication.k8s.io/v1', command: 'gke-gcloud-auth-plugin' },
      /an exec credential plugin \(exec\)/,
    ],
    ['auth-provider', { name: 'oidc' }, /an auth provider \(auth-provider\)/],
    ['username', 'admin', /basic authentication \(username\)/],
    ['as', 'someone', /impersonation \(as\)/],
  ])(
    'refuses a user with %s instead of sending requests without it',
    async (field, value, what) => {
      const path = await kubeconfigWith(`user-${field}`, (config) => {
        config.users[0]!.user = { [field]: value };
      });
      const error = await failure(connectLite({ kubeconfigPath: path }));
      expect(error.message).toMatch(what);
      expect(error.message).toMatch(
        /does not support; use a kubeconfig with a token or a client certificate/,
      );
    },
  );

  it('says which kubeconfig it cannot read', async () => {
    await expect(loadKubeconfig({ kubeconfigPath: join(dir, 'absent') })).rejects.toThrow(
      /^Cannot read the kubeconfig .*absent \(.*ENOENT.*\); pass --kubeconfig with a readable file\.$/,
    );
    const path = await kubeconfigWith('token-file', (config) => {
      config.users[0]!.user = { tokenFile: 'no-such-token' };
    });
    await expect(loadKubeconfig({ kubeconfigPath: path })).rejects.toThrow(
      /^Cannot read .*no-such-token, the tokenFile the kubeconfig .* names .*; fix the path or inline it as token\.$/,
    );
  });
});

describe('KubeLite without a cluster', () => {
  it('gives up on a server that refuses connections once the retry budget is spent', async () => {
    const lite = new KubeLite(
      {
        server: 'https://127.0.0.1:1',
        namespace: 'default',
        tls: { rejectUnauthorized: true },
        headers: {},
      },
      { attemptTimeoutMs: 500, budgetMs: 300, minDelayMs: 50, maxDelayMs: 100 },
    );
    try {
      const error = await failure(lite.list('v1', 'Namespace'));
      expect(error.message).toMatch(
        /The Kubernetes API server at https:\/\/127\.0\.0\.1:1 stopped answering/,
      );
    } finally {
      lite.close();
    }
  });
});
