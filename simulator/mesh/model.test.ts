import { beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject, SimExternalHost } from '../types.ts';
import { httpGateway, passthrough } from './scenarios.ts';
import { GATEWAY_NAMESPACE, GATEWAY_POD, curl, exec, localHost } from './testing.ts';

const HOST = 'model.egress-conformance.test';

let host: SimExternalHost;
beforeAll(() => {
  host = localHost(HOST, '203.0.113.80');
});

describe('exec dispatch', () => {
  it('has no curl in the proxy container, and answers unknown commands like sh', async () => {
    const s = httpGateway(host);
    const gateway = s.world.view.get('Pod', GATEWAY_NAMESPACE, GATEWAY_POD) as KubeObject;
    expect(await exec(s.world, gateway, 'istio-proxy', ['curl', 'http://x/'])).toEqual({
      stdout: '',
      stderr: 'sh: curl: not found\n',
      exitCode: 127,
    });
    expect((await exec(s.world, s.client, 'curl', ['wget', 'x'])).exitCode).toBe(127);
    expect((await exec(s.world, s.client, 'nope', ['curl', 'x'])).stderr).toContain(
      'container not found',
    );
  });

  it('runs sh -c lists and full curl paths', async () => {
    const s = httpGateway(host);
    const result = await exec(s.world, s.client, 'curl', [
      'sh',
      '-c',
      `/usr/bin/curl -s -o /dev/null -w '%{http_code}' http://${HOST}/sh && echo ' done'`,
    ]);
    expect(result).toEqual({ stdout: '200 done\n', stderr: '', exitCode: 0 });
  });

  it('prints -D - headers, the body and write-out; -v traces to stderr; -f turns 4xx/5xx into exit 22', async () => {
    const s = httpGateway(host);
    const verbose = await exec(s.world, s.client, 'curl', ['curl', '-sv', `http://${HOST}/v`]);
    expect(verbose.stdout).toContain(`GET /v over http`);
    expect(verbose.stderr).toContain(`> GET /v HTTP/1.1\n> Host: ${HOST}`);
    expect(verbose.stderr).toContain('< HTTP/1.1 200 OK');
    const failing = await exec(s.world, s.client, 'curl', [
      'curl',
      '-sSf',
      `http://${HOST}.invalid/`,
    ]);
    expect(failing.exitCode).toBe(6);
    s.world.view.remove('DestinationRule', s.namespace, s.values.name ?? '');
    const fail = await exec(s.world, s.client, 'curl', ['curl', '-sSf', `http://${HOST}/f`]);
    expect(fail).toMatchObject({
      exitCode: 22,
      stderr: 'curl: (22) The requested URL returned error: 503\n',
    });
  });

  it('returns at once for a request that times out, reporting the time curl would have waited', async () => {
    const s = httpGateway(host);
    const started = Date.now();
    const result = await curl(s.world, s.plain, {
      url: 'http://10.255.255.1/',
      maxTimeSeconds: 30,
    });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(result.exitCode).toBe(28);
    expect(result.error).toBe('Connection timed out after 30002 milliseconds');
    expect(result.writeOut.time_total).toBeGreaterThanOrEqual(30);
  });

  it('refuses connections to a port nobody listens on (exit 7)', async () => {
    const s = httpGateway(host);
    const result = await curl(s.world, s.plain, { url: `http://${HOST}:8081/`, maxTimeSeconds: 5 });
    expect(result.exitCode).toBe(7);
    expect(result.error).toMatch(
      new RegExp(
        `^Failed to connect to ${HOST} port 8081 after \\d+ ms: Could not connect to server$`,
      ),
    );
  });
});

describe('pilot-agent', () => {
  it('serves config_dump, clusters, listeners, server_info and Istio metrics from the view and the traffic', async () => {
    const s = passthrough(host);
    await curl(s.world, s.client, { url: `https://${HOST}/`, maxTimeSeconds: 5, insecure: true });
    const gateway = s.world.view.get('Pod', GATEWAY_NAMESPACE, GATEWAY_POD) as KubeObject;
    const run = (path: string): Promise<{ stdout: string; stderr: string; exitCode: number }> =>
      exec(s.world, gateway, 'istio-proxy', ['pilot-agent', 'request', 'GET', path]);

    const dump = JSON.parse((await run('config_dump')).stdout) as {
      configs: Record<string, unknown>[];
    };
    const types = dump.configs.map((config) => config['@type']);
    expect(types).toContain('type.googleapis.com/envoy.admin.v3.ClustersConfigDump');
    expect(JSON.stringify(dump)).toContain(`outbound|443||${HOST}`);
    expect(JSON.stringify(dump)).toContain(
      '"server_names":["passthrough.egress-conformance.test"]'.replace(
        'passthrough.egress-conformance.test',
        HOST,
      ),
    );

    expect((await run('listeners')).stdout).toBe('0.0.0.0_8443::0.0.0.0:8443\n');
    expect((await run('clusters')).stdout).toContain(
      `outbound|443||${HOST}::203.0.113.80:443::cx_total::1`,
    );
    expect(JSON.parse((await run('server_info')).stdout)).toMatchObject({ state: 'LIVE' });

    const prometheus = (await run('stats/prometheus')).stdout;
    expect(prometheus).toMatch(
      new RegExp(
        `istio_tcp_connections_opened_total\\{reporter="source",[^}]*destination_service_name="${HOST.replace(/\./g, '\\.')}"[^}]*\\} 1`,
      ),
    );
    expect(prometheus).toContain(
      `envoy_cluster_upstream_cx_total{cluster_name="outbound|443||${HOST}"} 1`,
    );

    const filtered = (await run('stats?filter=upstream_cx_total')).stdout;
    expect(
      filtered
        .split('\n')
        .filter(Boolean)
        .every((line) => line.includes('upstream_cx_total')),
    ).toBe(true);
    expect(await run('nonsense')).toMatchObject({ exitCode: 1 });
    expect(
      (await exec(s.world, gateway, 'istio-proxy', ['pilot-agent', 'frobnicate'])).exitCode,
    ).toBe(1);
  });

  it("answers for a sidecar too, with the client's view", async () => {
    const s = httpGateway(host);
    await curl(s.world, s.client, { url: `http://${HOST}/side`, maxTimeSeconds: 5 });
    const stats = await exec(s.world, s.client, 'istio-proxy', [
      'pilot-agent',
      'request',
      'GET',
      'stats',
    ]);
    expect(stats.stdout).toContain(
      'cluster.outbound|80|egress|istio-egressgateway.istio-system.svc.cluster.local.upstream_rq_total: 1',
    );
    const listeners = await exec(s.world, s.client, 'istio-proxy', [
      'pilot-agent',
      'request',
      'GET',
      'listeners',
    ]);
    expect(listeners.stdout).toContain('0.0.0.0_80::0.0.0.0:80');
  });
});
