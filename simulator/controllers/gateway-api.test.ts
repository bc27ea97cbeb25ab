// Istio's Gateway API controller as the simulated cluster models it: what it deploys for a
// Gateway of class istio (ISTIO_GATEWAY_DEPLOYMENT), the statuses it writes, and the
// gateway-not-programmed fault.
import { describe, expect, it } from 'vitest';
import {
  ISTIO_GATEWAY_DEPLOYMENT,
  istioGatewayDeploymentName,
} from '../../harness/facts/gateway-api.ts';
import { seedBaseCluster, startControllers } from '../controllers.ts';
import { bootstrapIstio } from '../istio-bootstrap.ts';
import { asArray, asRecord, text, type Json } from '../json.ts';
import { ObjectStore } from '../store/object-store.ts';
import type { KubeObject } from '../types.ts';
import { GATEWAY_KEY } from './gateway-api.ts';

const NS = 'egc-gw';
const HOST = 'edition.cnn.com';

async function cluster(options: { gatewayNeverProgrammed?: boolean } = {}) {
  const store = new ObjectStore({ propagationMs: 0 });
  const controllers = startControllers(store, { podStartMs: 0, ...options });
  seedBaseCluster(store);
  bootstrapIstio(store, {});
  store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await store.idle();
  return { store, stop: () => controllers.stop() };
}

function gateway(className = 'istio'): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      name: 'cnn-egress-gateway',
      namespace: NS,
      annotations: { [ISTIO_GATEWAY_DEPLOYMENT.serviceTypeAnnotation]: 'ClusterIP' },
    },
    spec: {
      gatewayClassName: className,
      listeners: [{ name: 'http', hostname: HOST, port: 80, protocol: 'HTTP' }],
    },
  };
}

function serviceEntry(): KubeObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'ServiceEntry',
    metadata: { name: 'cnn', namespace: NS },
    spec: { hosts: [HOST], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }] },
  };
}

function route(backend: string, parents: Json[]): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'forward-cnn-from-egress-gateway', namespace: NS },
    spec: {
      parentRefs: parents,
      hostnames: [HOST],
      rules: [
        {
          backendRefs: [
            { kind: 'Hostname', group: 'networking.istio.io', name: backend, port: 80 },
          ],
        },
      ],
    },
  };
}

async function until<T>(read: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const value = read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within 5 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function condition(object: KubeObject | undefined, type: string): Json | undefined {
  return asArray(asRecord(object?.status).conditions).find((entry) => entry.type === type);
}

describe("Istio's Gateway API controller (simulated)", () => {
  it('deploys <name>-istio for a Gateway of class istio and reports it Programmed once its pod is ready', async () => {
    const { store, stop } = await cluster();
    try {
      store.create(gateway());
      const name = istioGatewayDeploymentName('cnn-egress-gateway');
      const labels = {
        [ISTIO_GATEWAY_DEPLOYMENT.gatewayNameLabel]: 'cnn-egress-gateway',
        [ISTIO_GATEWAY_DEPLOYMENT.gatewayClassNameLabel]: 'istio',
      };
      const service = await until(() => store.get('Service', NS, name), 'the Service');
      expect(service.metadata.labels).toMatchObject(labels);
      expect(asRecord(service.spec).type).toBe('ClusterIP');
      expect(asRecord(service.spec).selector).toEqual({
        [ISTIO_GATEWAY_DEPLOYMENT.gatewayNameLabel]: 'cnn-egress-gateway',
      });
      expect(store.get('ServiceAccount', NS, name)?.metadata.ownerReferences?.[0]).toMatchObject({
        kind: 'Gateway',
        name: 'cnn-egress-gateway',
      });
      expect(store.get('Deployment', NS, name)?.metadata.labels).toMatchObject({
        ...labels,
        [ISTIO_GATEWAY_DEPLOYMENT.managedLabel.key]: ISTIO_GATEWAY_DEPLOYMENT.managedLabel.value,
      });
      const programmed = await until(() => {
        const found = condition(store.get(GATEWAY_KEY, NS, 'cnn-egress-gateway'), 'Programmed');
        return found?.status === 'True' ? found : undefined;
      }, 'Programmed=True');
      expect(text(programmed.message)).toBe(
        `Resource programmed, assigned to service(s) ${name}.${NS}.svc.cluster.local`,
      );
      const pods = store.list('Pod', {
        namespace: NS,
        labelSelector: `${ISTIO_GATEWAY_DEPLOYMENT.gatewayNameLabel}=cnn-egress-gateway`,
      });
      expect(pods).toHaveLength(1);
      expect(asRecord(pods[0]?.spec).serviceAccountName).toBe(name);
    } finally {
      stop();
    }
  });

  it('leaves a Gateway of another class alone', async () => {
    const { store, stop } = await cluster();
    try {
      store.create(gateway('other'));
      await store.idle();
      expect(store.list('Deployment', { namespace: NS })).toEqual([]);
      expect(store.get(GATEWAY_KEY, NS, 'cnn-egress-gateway')?.status).toBeUndefined();
    } finally {
      stop();
    }
  });

  it('gateway-not-programmed: Programmed stays False with the reason, though the pod runs', async () => {
    const { store, stop } = await cluster({ gatewayNeverProgrammed: true });
    try {
      store.create(gateway());
      const name = istioGatewayDeploymentName('cnn-egress-gateway');
      await until(
        () =>
          store
            .list('Pod', { namespace: NS })
            .find((pod) =>
              asArray(asRecord(pod.status).conditions).some(
                (entry) => entry.type === 'Ready' && entry.status === 'True',
              ),
            ),
        'a ready gateway pod',
      );
      await store.idle();
      expect(
        condition(store.get(GATEWAY_KEY, NS, 'cnn-egress-gateway'), 'Programmed'),
      ).toMatchObject({
        status: 'False',
        reason: 'NoResources',
        message: `Deployment ${NS}/${name} has no ready replica`,
      });
    } finally {
      stop();
    }
  });

  it('reports a route Accepted and ResolvedRefs per parent, and names what it cannot resolve', async () => {
    const { store, stop } = await cluster();
    try {
      store.create(gateway());
      store.create(serviceEntry());
      const parents = [
        { name: 'cnn-egress-gateway' },
        { kind: 'ServiceEntry', group: 'networking.istio.io', name: 'missing-entry' },
      ];
      store.create(route(HOST, parents));
      await store.idle();
      const statusOf = () =>
        asArray(
          asRecord(store.get('HTTPRoute', NS, 'forward-cnn-from-egress-gateway')?.status).parents,
        );
      const [onGateway, onEntry] = statusOf();
      expect(onGateway?.parentRef).toEqual(parents[0]);
      expect(onGateway?.controllerName).toBe(ISTIO_GATEWAY_DEPLOYMENT.controllerName);
      expect(asArray(onGateway?.conditions).map((c) => [c.type, c.status])).toEqual([
        ['Accepted', 'True'],
        ['ResolvedRefs', 'True'],
      ]);
      expect(asArray(onEntry?.conditions)[0]).toMatchObject({
        type: 'Accepted',
        status: 'False',
        reason: 'NoMatchingParent',
        message: `ServiceEntry ${NS}/missing-entry not found`,
      });

      // A Hostname backend no ServiceEntry declares does not resolve.
      store.modify('HTTPRoute', NS, 'forward-cnn-from-egress-gateway', (draft) => {
        draft.spec = route('unknown.example.com', parents).spec;
      });
      await store.idle();
      expect(asArray(statusOf()[0]?.conditions)[1]).toMatchObject({
        type: 'ResolvedRefs',
        status: 'False',
        reason: 'BackendNotFound',
        message: 'backend(unknown.example.com) not found',
      });
    } finally {
      stop();
    }
  });
});
