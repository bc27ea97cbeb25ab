// One curl process's connections through the mesh model (CURL_CONNECTION_REUSE,
// GATEWAY_TERMINATION_DRAIN): a TLS connection passed through the egress gateway is reused,
// stays pinned to its gateway pod while that pod runs or drains, and is opened again through
// a ready pod afterwards; with no ready pod the reconnect fails.
import { beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject, SimExternalHost } from '../types.ts';
import { CurlConnections } from './curl-connections.ts';
import { passthrough } from './scenarios.ts';
import {
  GATEWAY_NAMESPACE,
  GATEWAY_POD,
  gatewayObjects,
  localHost,
  type World,
} from './testing.ts';

const HOST = 'connection.egress-conformance.test';

let host: SimExternalHost;
beforeAll(() => {
  host = localHost(HOST, '203.0.113.30');
});

/** What the probe's write-out prints: code, exit, new connects, connection id. */
interface Exchange {
  code: number;
  exit: number;
  connects: number;
  id: number;
}

function send(
  world: World,
  client: KubeObject,
  connections: CurlConnections | undefined,
  n: number,
  extra: string[] = [],
): Promise<Exchange> {
  return world.model
    .exec({
      namespace: client.metadata.namespace ?? 'default',
      pod: client,
      container: 'curl',
      command: [
        'curl',
        '-sk',
        '--http1.1',
        ...extra,
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{exitcode} %{num_connects} %{conn_id}',
        `https://${HOST}/connection/${n}`,
      ],
      ...(connections ? { connections } : {}),
    })
    .then((result) => {
      const [code, exit, connects, id] = result.stdout.split(' ').map(Number);
      return { code: code ?? -1, exit: exit ?? -1, connects: connects ?? -1, id: id ?? -2 };
    });
}

/** A second gateway pod, as a rolling update starts it. */
function secondGateway(): KubeObject {
  const [pod] = gatewayObjects();
  if (!pod) throw new Error('no gateway pod');
  return {
    ...pod,
    metadata: { ...pod.metadata, name: 'istio-egressgateway-7f9d8c6b4-q2w3e', uid: 'gw-2' },
    status: { ...pod.status, podIP: '10.244.0.21' },
  };
}

const entriesOf = (world: World, pod: string): number =>
  world.logs.of(GATEWAY_NAMESPACE, pod).length;

describe('a long-lived TLS connection through the egress gateway', () => {
  it('is reused, pinned to its gateway pod through the drain, then opened again through a ready pod', async () => {
    const { world, client } = passthrough(host);
    const running = new Set([GATEWAY_POD]);
    const connections = new CurlConnections(({ name }) => running.has(name));
    expect(await send(world, client, connections, 1)).toEqual({
      code: 200,
      exit: 0,
      connects: 1,
      id: 0,
    });
    expect(entriesOf(world, GATEWAY_POD)).toBe(1);
    // Reused: no new connect, no new gateway entry (Envoy logs the connection when it closes).
    expect(await send(world, client, connections, 2)).toEqual({
      code: 200,
      exit: 0,
      connects: 0,
      id: 0,
    });
    expect(entriesOf(world, GATEWAY_POD)).toBe(1);
    // A rolling update: the new pod is ready, the old one is deleted and drains.
    const next = world.view.apply(secondGateway());
    world.view.remove('Pod', GATEWAY_NAMESPACE, GATEWAY_POD);
    expect(await send(world, client, connections, 3)).toMatchObject({
      exit: 0,
      connects: 0,
      id: 0,
    });
    // The drain is over: Envoy stopped, the connection is gone; curl connects again.
    running.delete(GATEWAY_POD);
    running.add(next.metadata.name);
    expect(await send(world, client, connections, 4)).toEqual({
      code: 200,
      exit: 0,
      connects: 1,
      id: 1,
    });
    expect(entriesOf(world, next.metadata.name)).toBe(1);
  });

  it('cannot reconnect while no gateway pod is ready (all replaced at once), and can once one is', async () => {
    const { world, client } = passthrough(host);
    let runs = true;
    const connections = new CurlConnections(() => runs);
    expect((await send(world, client, connections, 1)).connects).toBe(1);
    // Every gateway pod deleted at once, the replacement not ready yet, the drain over.
    world.view.remove('Pod', GATEWAY_NAMESPACE, GATEWAY_POD);
    runs = false;
    const failed = await send(world, client, connections, 2);
    expect(failed.exit).toBe(35);
    expect(failed.code).toBe(0);
    runs = true;
    world.view.apply(secondGateway());
    expect(await send(world, client, connections, 3)).toMatchObject({
      code: 200,
      exit: 0,
      connects: 1,
    });
  });

  it('opens a connection per request when the request says Connection: close, or per process', async () => {
    const { world, client } = passthrough(host);
    const connections = new CurlConnections(() => true);
    const close = ['-H', 'Connection: close'];
    const ids = [];
    for (const n of [1, 2, 3]) {
      const exchange = await send(world, client, connections, n, close);
      expect(exchange).toMatchObject({ exit: 0, connects: 1 });
      ids.push(exchange.id);
    }
    expect(ids).toEqual([0, 1, 2]);
    expect(entriesOf(world, GATEWAY_POD)).toBe(3);
    // Separate curl processes (plain execs) share nothing.
    expect(await send(world, client, undefined, 4)).toMatchObject({ connects: 1, id: 0 });
    expect(await send(world, client, undefined, 5)).toMatchObject({ connects: 1, id: 0 });
  });
});
