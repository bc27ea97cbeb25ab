import { describe, expect, it } from 'vitest';
import {
  bareClientMustBeBlocked,
  clientMustSeeHostCertificate,
  clusterMustHaveEgress,
  gatewayCounterMustIncrease,
  otherSniMustNotReachHost,
  plaintextMustBeRefusedByGateway,
  requestMustBypassGateway,
  requestMustLeaveThroughGateway,
} from './behaviours.ts';
import { ConformanceFailure, EnvironmentError } from './errors.ts';
import {
  CLIENT,
  HOST,
  connectionRefused,
  gatewayEntry,
  hostAnswer,
  lastPath,
  stubEnvironment,
} from './testing/stub-environment.ts';

/** Short budgets: a failing check gives up after a few observations. */
const FAST = { configPropagation: 30, policyEnforcement: 30 };

async function failureOf(check: Promise<unknown>): Promise<ConformanceFailure> {
  const error = await check.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ConformanceFailure);
  return error as ConformanceFailure;
}

const HTTP_UPSTREAM = `outbound|80||${HOST}`;
const TLS_UPSTREAM = `outbound|443||${HOST}`;

describe('requestMustLeaveThroughGateway', () => {
  it('passes when the gateway logged this request with the expected upstream cluster', async () => {
    const env = stubEnvironment({
      gatewayLog: (sent) => ({
        pods: ['gateway-1'],
        entries: [gatewayEntry({ path: lastPath(sent), upstreamCluster: HTTP_UPSTREAM })],
      }),
    });
    const observation = await requestMustLeaveThroughGateway('B1.2', env, CLIENT, {
      scheme: 'http',
      upstreamCluster: HTTP_UPSTREAM,
    });
    expect(observation.matched[0]?.upstreamCluster).toBe(HTTP_UPSTREAM);
    expect(env.convergence.map((entry) => entry.behaviour)).toEqual(['B1.2']);
  });

  it('fails naming "did not pass through the egress gateway" when the gateway logged nothing', async () => {
    const env = stubEnvironment({
      timeouts: FAST,
      gatewayStats: () => new Map([[`cluster.${HTTP_UPSTREAM}.upstream_rq_total`, 7]]),
    });
    const failure = await failureOf(
      requestMustLeaveThroughGateway('B1.2', env, CLIENT, {
        scheme: 'http',
        upstreamCluster: HTTP_UPSTREAM,
      }),
    );
    expect(failure.behaviour).toBe('B1.2');
    expect(failure.reason).toMatch(/the request did not pass through the egress gateway/);
    expect(failure.reason).toMatch(/stayed at 7, so the traffic bypassed the gateway/);
    expect(failure.observed).toMatch(/no access-log entries at all/);
    expect(failure.hint).toMatch(/VirtualService/);
    expect(failure.message).toMatch(
      /^\[B1\.2\] Expected HTTP from .* to leave through the egress gateway/,
    );
  });

  it('fails naming the wrong upstream cluster the gateway forwarded to', async () => {
    const env = stubEnvironment({
      timeouts: FAST,
      gatewayLog: (sent) => ({
        pods: ['gateway-1'],
        entries: [
          gatewayEntry({ path: lastPath(sent), upstreamCluster: 'outbound|80||elsewhere' }),
        ],
      }),
    });
    const failure = await failureOf(
      requestMustLeaveThroughGateway('B1.2', env, CLIENT, {
        scheme: 'http',
        upstreamCluster: HTTP_UPSTREAM,
      }),
    );
    expect(failure.reason).toBe(
      `the gateway forwarded it to upstream cluster outbound|80||elsewhere instead of ${HTTP_UPSTREAM}`,
    );
  });

  it('attributes TLS by SNI and client address, crediting an entry to one observation only', async () => {
    const entry = gatewayEntry({
      kind: 'tcp',
      path: undefined,
      authority: undefined,
      requestedServerName: HOST,
      upstreamCluster: TLS_UPSTREAM,
    });
    // The same entry every time: it proves the first request, not the next two.
    const env = stubEnvironment({
      timeouts: FAST,
      gatewayLog: () => ({ pods: ['gateway-1'], entries: [entry] }),
    });
    const failure = await failureOf(
      requestMustLeaveThroughGateway('B3.2', env, CLIENT, {
        scheme: 'https',
        upstreamCluster: TLS_UPSTREAM,
        requestedServerName: HOST,
      }),
    );
    expect(failure.reason).toMatch(/logged 1 entries in the window but none for this connection/);
  });
});

describe('requestMustBypassGateway', () => {
  it('passes when the host answers and the gateway logged nothing', async () => {
    const env = stubEnvironment();
    await expect(
      requestMustBypassGateway('B1.control', env, CLIENT, { scheme: 'http' }),
    ).resolves.toMatchObject({ matched: [] });
  });

  it('fails when the gateway logged the request', async () => {
    const env = stubEnvironment({
      timeouts: FAST,
      gatewayLog: (sent) => ({
        pods: ['gateway-1'],
        entries: [gatewayEntry({ path: lastPath(sent) })],
      }),
    });
    const failure = await failureOf(
      requestMustBypassGateway('B1.control', env, CLIENT, { scheme: 'http' }),
    );
    expect(failure.reason).toMatch(
      /^the gateway logged this request although no route sends it there/,
    );
  });
});

describe('clientMustSeeHostCertificate', () => {
  const pem = (body: string) => `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
  const host = { certificatePem: pem('SG9zdE93bkNlcnQ='), certificateSubject: `CN = ${HOST}` };

  it("passes when the client is shown the host's own certificate", async () => {
    const env = stubEnvironment({
      host,
      curl: () =>
        hostAnswer({
          certificates: [
            { subject: `CN = ${HOST}`, issuer: 'CN = ca', pem: pem('SG9zdE93bkNlcnQ=') },
          ],
        }),
    });
    await expect(clientMustSeeHostCertificate('B3.1', env, CLIENT)).resolves.toBeUndefined();
  });

  it('fails on a foreign certificate, naming its subject and issuer', async () => {
    const env = stubEnvironment({
      host,
      timeouts: FAST,
      curl: () =>
        hostAnswer({
          certificates: [
            {
              subject: 'CN = istio-egressgateway',
              issuer: 'O = cluster.local',
              pem: pem('R2F0ZXdheQ=='),
            },
          ],
        }),
    });
    const failure = await failureOf(clientMustSeeHostCertificate('B3.1', env, CLIENT));
    expect(failure.reason).toBe(
      `TLS did not end at the external host: the client was shown a certificate with subject "CN = istio-egressgateway" issued by "O = cluster.local", not the host's own (CN = ${HOST}); something in the path terminated TLS`,
    );
    expect(failure.hint).toMatch(/PASSTHROUGH/);
  });
});

describe('plaintextMustBeRefusedByGateway', () => {
  it('passes when the gateway resets plaintext, fails when the host answers or nothing is reached', async () => {
    const reset = stubEnvironment({
      curl: () => hostAnswer({ exitCode: 56, error: 'reset', status: 0, headers: {} }),
    });
    await expect(
      plaintextMustBeRefusedByGateway('B2.3', reset, CLIENT, { port: 443 }),
    ).resolves.toBeUndefined();

    const answered = stubEnvironment({ timeouts: FAST });
    expect(
      (await failureOf(plaintextMustBeRefusedByGateway('B2.3', answered, CLIENT, { port: 443 })))
        .reason,
    ).toMatch(/the external host answered through the gateway without mutual TLS/);

    const unreachable = stubEnvironment({ timeouts: FAST, curl: connectionRefused });
    expect(
      (await failureOf(plaintextMustBeRefusedByGateway('B2.3', unreachable, CLIENT, { port: 443 })))
        .reason,
    ).toMatch(/could not reach the gateway service at all .* so a refusal cannot be observed/);
  });
});

describe('otherSniMustNotReachHost', () => {
  it('fails when TLS with another SNI reaches the host through the gateway', async () => {
    const env = stubEnvironment({ timeouts: FAST });
    const failure = await failureOf(otherSniMustNotReachHost('B3.3', env, CLIENT));
    expect(failure.reason).toMatch(`the gateway routed TLS with SNI other-sni.${HOST} to ${HOST}`);
  });

  it('passes when only the right SNI gets through', async () => {
    const env = stubEnvironment({
      curl: (request) =>
        request.url.includes('other-sni')
          ? hostAnswer({ exitCode: 35, error: 'handshake', status: 0, headers: {} })
          : hostAnswer({
              certificates: [{ subject: `CN = ${HOST}`, issuer: 'CN = ca', pem: 'x' }],
            }),
    });
    await expect(otherSniMustNotReachHost('B3.3', env, CLIENT)).resolves.toBeUndefined();
  });
});

describe('NetworkPolicy checks', () => {
  it('a cluster without any egress is an environment error, not a conformance failure', async () => {
    const env = stubEnvironment({ timeouts: FAST, curl: connectionRefused });
    const error = await clusterMustHaveEgress(env, CLIENT).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as Error).message).toMatch(
      /cannot reach the external host .* even without Istio in the path \(after \d+ observations in \d+ ms: the request failed: curl exit 7/,
    );
  });

  it('bareClientMustBeBlocked fails while the pod without sidecar still reaches the host', async () => {
    const env = stubEnvironment({ timeouts: FAST });
    const failure = await failureOf(bareClientMustBeBlocked('B4.4', env, CLIENT));
    expect(failure.budgetMs).toBe(FAST.policyEnforcement);
    expect(failure.reason).toMatch(/^the pod without sidecar still reached the host directly/);
    await expect(
      bareClientMustBeBlocked('B4.4', stubEnvironment({ curl: connectionRefused }), CLIENT),
    ).resolves.toBeUndefined();
  });

  it('gatewayCounterMustIncrease reads the counter before and after', async () => {
    const stat = `cluster.${TLS_UPSTREAM}.upstream_cx_total`;
    const env = stubEnvironment({ gatewayStats: (sent) => new Map([[stat, 10 + sent.length]]) });
    const skip = (note: string): never => {
      throw new Error(`skipped: ${note}`);
    };
    await expect(gatewayCounterMustIncrease('B4.6', env, CLIENT, { skip })).resolves.toEqual({
      source: `Envoy stat ${stat}`,
      before: 10,
      after: 13,
    });

    const frozen = stubEnvironment({ timeouts: FAST, gatewayStats: () => new Map([[stat, 10]]) });
    const failure = await failureOf(gatewayCounterMustIncrease('B4.6', frozen, CLIENT, { skip }));
    expect(failure.reason).toMatch(`Envoy stat ${stat} stayed at 10 (before: 10)`);

    const hidden = stubEnvironment({ timeouts: FAST });
    await expect(gatewayCounterMustIncrease('B4.6', hidden, CLIENT, { skip })).rejects.toThrow(
      /^skipped: The gateway exposes neither/,
    );
  });
});
