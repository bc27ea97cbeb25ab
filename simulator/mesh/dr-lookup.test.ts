import { beforeAll, describe, expect, it } from 'vitest';
import type { SimExternalHost } from '../types.ts';
import { drLookup } from './scenarios.ts';
import { curl, gatewayLog, localHost, parseLogLine } from './testing.ts';

const HOST = 'dr-lookup.egress-conformance.test';

let host: SimExternalHost;
beforeAll(() => {
  host = localHost(HOST, '203.0.113.50');
});

describe('B5 dr-lookup', () => {
  it('answers 503 (cluster not found) while the DestinationRule is only in another namespace, and works once it is in the client namespace', async () => {
    const { world, client, clientNamespace, applyRuleIn } = drLookup(host);
    const missing = await curl(world, client, { url: `http://${HOST}/b5`, maxTimeSeconds: 5 });
    expect(missing.status).toBe(503);
    expect(missing.headers['x-egress-conformance-host']).toBeUndefined();
    expect(gatewayLog(world)).toEqual([]);
    expect(
      parseLogLine(world.logs.of(clientNamespace, client.metadata.name)[0] ?? ''),
    ).toMatchObject({
      code: 503,
      flags: 'NC',
      details: 'cluster_not_found',
      upstreamCluster: '-',
    });

    applyRuleIn(clientNamespace);
    const found = await curl(world, client, { url: `http://${HOST}/b5`, maxTimeSeconds: 5 });
    expect(found.status).toBe(200);
    expect(found.headers['x-egress-conformance-host']).toBe(HOST);
    expect(parseLogLine(gatewayLog(world)[0] ?? '')).toMatchObject({
      path: '/b5',
      upstreamCluster: `outbound|80||${HOST}`,
    });
  });

  it('finds a DestinationRule in the root namespace istio-system for every client', async () => {
    const { world, client, applyRuleIn } = drLookup(host);
    applyRuleIn('istio-system');
    expect(
      (await curl(world, client, { url: `http://${HOST}/b5-root`, maxTimeSeconds: 5 })).status,
    ).toBe(200);
  });
});
