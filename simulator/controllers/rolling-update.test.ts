/**
 * Rolling updates of the simulated deployment controller (ROLLING_UPDATE_DEFAULTS): a
 * template change surges within maxSurge and never drops below replicas - maxUnavailable
 * ready pods; the `upgrade-drops-traffic` fault replaces a gateway's replicas all at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ObjectStore } from '../store/object-store.ts';
import { startControllers, type Controllers } from '../controllers.ts';
import type { KubeObject } from '../types.ts';
import { asRecord } from '../json.ts';
import { isPodReady } from './kubelet.ts';
import { pollUntil } from '../../harness/wait.ts';

const NAMESPACE = 'apps';
let running: Controllers | undefined;

afterEach(() => {
  running?.stop();
  running = undefined;
});

function deployment(name: string, replicas: number, gateway: boolean): KubeObject {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: gateway
            ? // What makes a gateway pod: Istio's proxy alone, in router mode.
              [
                {
                  name: 'istio-proxy',
                  image: 'docker.io/istio/proxyv2:1.30.5',
                  args: ['proxy', 'router'],
                },
              ]
            : [{ name: 'app', image: 'curlimages/curl:8.11.1' }],
        },
      },
    },
  };
}

/** Starts a cluster's controllers, creates the Deployment and waits until its pods are ready. */
async function rolledOut(
  name: string,
  replicas: number,
  { gateway = false, faults = [] as string[] } = {},
): Promise<ObjectStore> {
  const store = new ObjectStore();
  running = startControllers(store, { podStartMs: 40, faults: new Set(faults) });
  store.create({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NAMESPACE },
  });
  store.create(deployment(name, replicas, gateway));
  await waitReady(store, name, replicas, () => true);
  return store;
}

function podsOf(store: ObjectStore, name: string): KubeObject[] {
  return store
    .list('Pod', { namespace: NAMESPACE })
    .filter(
      (pod) => pod.metadata.labels?.app === name && pod.metadata.deletionTimestamp === undefined,
    );
}

async function waitReady(
  store: ObjectStore,
  name: string,
  replicas: number,
  isNew: (pod: KubeObject) => boolean,
): Promise<void> {
  await pollUntil({
    what: `${replicas} ready new pods of ${name}`,
    timeoutMs: 10_000,
    intervalMs: 20,
    observe: () => Promise.resolve(podsOf(store, name)),
    done: (pods) => pods.length === replicas && pods.every((pod) => isPodReady(pod) && isNew(pod)),
    describe: (pods) => `${pods.length} pods`,
    hint: 'the deployment controller',
  });
}

/** Restarts the Deployment (a template annotation, as `kubectl rollout restart`) and watches the rollout. */
async function restartAndWatch(
  store: ObjectStore,
  name: string,
  replicas: number,
): Promise<{ minReady: number; maxPods: number }> {
  const before = new Set(podsOf(store, name).map((pod) => pod.metadata.uid));
  let minReady = replicas;
  let maxPods = replicas;
  const unwatch = store.watch(() => {
    minReady = Math.min(minReady, podsOf(store, name).filter(isPodReady).length);
    // The pods the replica sets ask for: a set being scaled down deletes its pods a moment
    // later, in the same tick, as a real controller's deletes take effect after its update.
    const wanted = store
      .list('ReplicaSet', { namespace: NAMESPACE })
      .filter((rs) => rs.metadata.name.startsWith(`${name}-`))
      .reduce((sum, rs) => sum + Number(asRecord(rs.spec).replicas ?? 0), 0);
    maxPods = Math.max(maxPods, wanted);
  });
  store.modify('Deployment', NAMESPACE, name, (draft) => {
    const template = asRecord(asRecord(draft.spec).template);
    template.metadata = {
      ...asRecord(template.metadata),
      annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() },
    };
  });
  try {
    await waitReady(store, name, replicas, (pod) => !before.has(pod.metadata.uid));
  } finally {
    unwatch();
  }
  return { minReady, maxPods };
}

describe('rolling updates in the simulated cluster', () => {
  it('2 replicas: one surge pod at a time, never fewer than 2 ready (maxSurge 1, maxUnavailable 0)', async () => {
    const store = await rolledOut('web', 2);
    expect(await restartAndWatch(store, 'web', 2)).toEqual({ minReady: 2, maxPods: 3 });
  });

  it('1 replica: the new pod is ready before the old one goes (maxSurge 1, maxUnavailable 0)', async () => {
    const store = await rolledOut('single', 1);
    expect(await restartAndWatch(store, 'single', 1)).toEqual({ minReady: 1, maxPods: 2 });
  });

  it('4 replicas with maxSurge 0, maxUnavailable 2: down to 2 ready, never above 4 pods', async () => {
    const store = await rolledOut('wide', 4);
    store.modify('Deployment', NAMESPACE, 'wide', (draft) => {
      asRecord(draft.spec).strategy = {
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: 0, maxUnavailable: 2 },
      };
    });
    const { minReady, maxPods } = await restartAndWatch(store, 'wide', 4);
    expect(maxPods).toBe(4);
    expect(minReady).toBe(2);
  });

  it('upgrade-drops-traffic: a gateway loses every ready replica at once; other deployments still roll', async () => {
    const faults = ['upgrade-drops-traffic'];
    const gateway = await rolledOut('gw', 2, { gateway: true, faults });
    expect((await restartAndWatch(gateway, 'gw', 2)).minReady).toBe(0);
    running?.stop();
    const app = await rolledOut('app', 2, { faults });
    expect((await restartAndWatch(app, 'app', 2)).minReady).toBe(2);
  });
});
