import { describe, expect, it } from 'vitest';
import {
  describeObservation,
  establish,
  hostAnswered,
  missingEntryReason,
  observeRequest,
} from './checks.ts';
import { ConformanceFailure } from './errors.ts';
import {
  CLIENT,
  HOST,
  gatewayEntry,
  hostAnswer,
  lastPath,
  stubEnvironment,
} from './testing/stub-environment.ts';

describe('observeRequest', () => {
  it("finds this request's entry, even when it appears only after a few reads", async () => {
    let reads = 0;
    const env = stubEnvironment({
      timeouts: { accessLogFlush: 1000 },
      gatewayLog: (sent) => {
        reads += 1;
        const entries = reads < 3 ? [] : [gatewayEntry({ path: lastPath(sent) })];
        return { entries, pods: ['gateway-1'] };
      },
    });
    const path = env.uniquePath('B1.2');
    const observation = await observeRequest(env, CLIENT, {
      url: `http://${HOST}${path}`,
      expectEntry: true,
      match: { kind: 'http', path, authority: HOST },
    });
    expect(reads).toBe(3);
    expect(observation.matched.map((entry) => entry.path)).toEqual([path]);
    expect(observation.result.status).toBe(200);
  });

  it('leaves out entries of other requests, earlier ones and lines already credited', async () => {
    const credited = gatewayEntry({ kind: 'tcp', requestedServerName: HOST, raw: 'credited' });
    const env = stubEnvironment({
      gatewayLog: () => ({
        pods: ['gateway-1'],
        entries: [
          gatewayEntry({ path: '/someone-else' }),
          gatewayEntry({ path: '/old', startTime: new Date(Date.now() - 60_000) }),
          credited,
        ],
      }),
    });
    const observation = await observeRequest(env, CLIENT, {
      url: `https://${HOST}/`,
      expectEntry: false,
      exclude: new Set(['credited']),
      match: { kind: 'tcp', requestedServerName: HOST, downstreamIp: CLIENT.podIp },
    });
    expect(observation.matched).toEqual([]);
    // The window keeps what the gateway logged since the request, for the message.
    expect(observation.window.entries.map((entry) => entry.path ?? entry.kind)).toEqual([
      '/someone-else',
      'tcp',
    ]);
  });
});

describe('hostAnswered', () => {
  const { host } = stubEnvironment();

  it("accepts the host's own answer", () => {
    expect(hostAnswered(host, hostAnswer(), 'https')).toBe(true);
  });

  it('names a failed request, a wrong status, and an answer from something else', () => {
    expect(hostAnswered(host, hostAnswer({ exitCode: 56, error: 'reset' }), 'https')).toMatch(
      /^the request failed: curl exit 56 \(reset\)/,
    );
    expect(
      hostAnswered(host, hostAnswer({ status: 503, headers: { server: 'envoy' } }), 'http'),
    ).toMatch(
      /expected HTTP 200 from .*, got HTTP 503 .* \(answered by Envoy, not the external host\)/,
    );
    expect(hostAnswered(host, hostAnswer({ headers: {} }), 'https')).toMatch(
      /lacks .* identifying header x-egress-conformance-host: .* so something else answered/,
    );
  });
});

describe('missingEntryReason', () => {
  const observation = (pods: string[], counter?: { before: number; after: number }) => ({
    url: `http://${HOST}/x`,
    sentAt: new Date(),
    result: hostAnswer(),
    matched: [],
    window: { entries: [], pods },
    ...(counter
      ? { counter: { name: 'cluster.outbound|80||h.upstream_rq_total', ...counter } }
      : {}),
  });

  it('tells no gateway pod, a bypass and a gateway that forwards without logging apart', () => {
    expect(missingEntryReason(observation([]), 'for it')).toMatch(/no ready egress gateway pod/);
    expect(missingEntryReason(observation(['gw'], { before: 4, after: 4 }), 'for it')).toMatch(
      /did not pass through the egress gateway.*stayed at 4, so the traffic bypassed the gateway/,
    );
    expect(missingEntryReason(observation(['gw'], { before: 4, after: 5 }), 'for it')).toMatch(
      /the gateway forwarded the request .* rose from 4 to 5\) but wrote no access-log entry/,
    );
  });

  it('describes an observation with the request and what the gateway logged', () => {
    expect(describeObservation(observation(['gateway-1']))).toMatch(
      /^request http:\/\/.*\/x: HTTP 200 .*\n {2}gateway log \(gateway-1\) since .*: no access-log entries at all$/,
    );
  });
});

describe('establish', () => {
  it("records a convergence on the environment for the case's report", async () => {
    const env = stubEnvironment();
    const convergence = await establish('B9.1', env, {
      what: 'the answer to be 200',
      observe: () => env.curl(CLIENT, { url: `https://${HOST}/` }),
      check: (result) => hostAnswered(env.host, result, 'https'),
      describe: (result) => `HTTP ${result.status}`,
      hint: 'none needed',
    });
    expect(convergence.observations).toBe(3);
    expect(env.convergence).toEqual([
      { behaviour: 'B9.1', observations: 3, flips: 0, elapsedMs: convergence.elapsedMs },
    ]);
  });

  it('fails with a ConformanceFailure whose fields name the behaviour, expectation, budget and hint', async () => {
    const env = stubEnvironment({ curl: () => hostAnswer({ status: 503, headers: {} }) });
    const failure = await establish('B9.2', env, {
      what: 'the answer to be 200',
      observe: () => env.curl(CLIENT, { url: `https://${HOST}/` }),
      check: (result) => hostAnswered(env.host, result, 'https'),
      describe: (result) => `HTTP ${result.status}`,
      hint: 'look at the host',
      timeoutMs: 20,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConformanceFailure);
    expect(failure).toMatchObject({
      behaviour: 'B9.2',
      expected: 'the answer to be 200',
      observed: 'HTTP 503',
      hint: 'look at the host',
      budgetMs: 20,
      required: 3,
    });
    expect((failure as ConformanceFailure).reason).toMatch(
      /^expected HTTP 200 from .*, got HTTP 503/,
    );
    expect((failure as ConformanceFailure).observations).toBeGreaterThan(1);
    expect(env.convergence).toEqual([]);
  });

  it('takes its budget from the timeout config unless given one', async () => {
    const env = stubEnvironment({ timeouts: { configPropagation: 15 } });
    const failure = (await establish('B9.3', env, {
      what: 'never',
      observe: () => Promise.reject(new Error('exec failed: no such pod')),
      check: () => true,
      describe: () => 'unused',
      hint: 'recreate the pod',
    }).catch((error: unknown) => error)) as ConformanceFailure;
    expect(failure.budgetMs).toBe(15);
    expect(failure.reason).toBe('the observation failed: exec failed: no such pod');
    expect(failure.message).toMatch(
      /^\[B9\.3\] Expected never in 3 consecutive observations within 15 ms/,
    );
  });
});
