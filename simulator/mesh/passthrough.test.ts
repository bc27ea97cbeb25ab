import { beforeAll, describe, expect, it } from 'vitest';
import type { SimExternalHost } from '../types.ts';
import { passthrough } from './scenarios.ts';
import {
  GATEWAY_HOST,
  GATEWAY_IP,
  curl,
  exec,
  gatewayLog,
  gatewayStat,
  localHost,
  parseLogLine,
} from './testing.ts';

const HOST = 'passthrough.egress-conformance.test';

let host: SimExternalHost;
beforeAll(() => {
  host = localHost(HOST, '203.0.113.20');
});

describe('B3 passthrough', () => {
  for (const mutualTls of [false, true]) {
    describe(
      mutualTls ? 'mTLS variant (TLS ISTIO_MUTUAL server, tcp route)' : 'PASSTHROUGH',
      () => {
        it("ends the client's TLS at the external host and logs a TCP entry with the SNI", async () => {
          const { world, client, namespace: ns } = passthrough(host, { mutualTls });
          const before = await gatewayStat(
            world,
            `cluster.outbound|443||${HOST}.upstream_cx_total`,
          );
          const result = await curl(world, client, {
            url: `https://${HOST}/`,
            maxTimeSeconds: 5,
            insecure: true,
          });
          expect(result.exitCode).toBe(0);
          expect(result.status).toBe(200);
          expect(result.certificates[0]).toMatchObject({
            subject: `CN = ${HOST}`,
            issuer: 'CN = egress-conformance test CA',
          });
          expect(result.certificates[0]?.pem).toBe(
            host.certificatePem?.replace(/\r\n/g, '\n').trim(),
          );
          const lines = gatewayLog(world);
          expect(lines).toHaveLength(1);
          expect(lines[0]).toContain('"- - -" 0 ');
          expect(parseLogLine(lines[0] ?? '')).toMatchObject({
            method: '-',
            code: 0,
            upstreamHost: '203.0.113.20:443',
            upstreamCluster: `outbound|443||${HOST}`,
            downstreamLocal: `${GATEWAY_IP}:8443`,
            sni: HOST,
            routeName: '-',
          });
          expect(parseLogLine(world.logs.of(ns, client.metadata.name)[0] ?? '')).toMatchObject({
            upstreamCluster: `outbound|443|egress|${GATEWAY_HOST}`,
            sni: HOST,
          });
          expect(before).toBe(0);
          expect(await gatewayStat(world, `cluster.outbound|443||${HOST}.upstream_cx_total`)).toBe(
            1,
          );
        });

        it('leaves no gateway entry before the VirtualService exists (negative control)', async () => {
          const { world, client } = passthrough(host, { mutualTls, withVirtualService: false });
          const result = await curl(world, client, {
            url: `https://${HOST}/`,
            maxTimeSeconds: 5,
            insecure: true,
          });
          expect(result.status).toBe(200);
          expect(gatewayLog(world)).toEqual([]);
        });
      },
    );
  }

  it('shows the external chain to openssl s_client from the client', async () => {
    const { world, client } = passthrough(host);
    const result = await exec(world, client, 'curl', [
      'openssl',
      's_client',
      '-connect',
      `${HOST}:443`,
      '-servername',
      HOST,
    ]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('CONNECTED(00000003)');
    expect(result.stdout).toContain(` 0 s:CN = ${HOST}\n   i:CN = egress-conformance test CA`);
    expect(result.stdout).toContain(
      'Verify return code: 20 (unable to get local issuer certificate)',
    );
    expect(result.stderr).toContain('DONE');
    expect(parseLogLine(gatewayLog(world)[0] ?? '')).toMatchObject({
      sni: HOST,
      upstreamCluster: `outbound|443||${HOST}`,
    });
  });

  it('fails certificate verification without -k, as curl does for an untrusted CA', async () => {
    const { world, client } = passthrough(host);
    const result = await curl(world, client, { url: `https://${HOST}/`, maxTimeSeconds: 5 });
    expect(result.exitCode).toBe(60);
    expect(result.error).toBe('SSL certificate problem: unable to get local issuer certificate');
    expect(result.raw.stderr).toContain('curl: (60) SSL certificate problem');
  });

  it('closes a connection whose SNI no route matches at the gateway', async () => {
    const other = localHost('other.egress-conformance.test', '203.0.113.21');
    const { world, plain } = passthrough(host, { extraHosts: [other] });
    const result = await curl(world, plain, {
      url: `https://${other.name}/`,
      maxTimeSeconds: 5,
      insecure: true,
      resolve: [`${other.name}:443:10.96.0.50`],
    });
    expect(result.exitCode).toBe(35);
    expect(parseLogLine(gatewayLog(world)[0] ?? '')).toMatchObject({
      flags: 'NR',
      details: 'filter_chain_not_found',
      sni: other.name,
    });
  });

  it('offers the gateway another SNI with --connect-to, and the gateway does not route it', async () => {
    const { world, plain } = passthrough(host);
    const name = `other-sni.${HOST}`;
    const right = await curl(world, plain, {
      url: `https://${HOST}/`,
      maxTimeSeconds: 5,
      insecure: true,
      connectTo: [`${HOST}:443:${GATEWAY_HOST}:443`],
    });
    expect(right.headers['x-egress-conformance-host']).toBe(HOST);
    expect(right.remoteIp).toBe('10.96.0.50');
    const wrong = await curl(world, plain, {
      url: `https://${name}/`,
      maxTimeSeconds: 5,
      insecure: true,
      connectTo: [`${name}:443:${GATEWAY_HOST}:443`],
    });
    expect(wrong.exitCode).toBe(35);
    expect(gatewayLog(world).map(parseLogLine)).toMatchObject([
      { sni: HOST, upstreamCluster: `outbound|443||${HOST}` },
      { sni: name, flags: 'NR' },
    ]);
  });
});
