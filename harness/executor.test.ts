/**
 * The executor's order and outcomes, with a fake environment instead of a cluster: stages
 * before the cases after them, a failed setup or stage reported once on its block with the
 * cases it blocked skipped, cleanup always, failures with diagnostics, skips, the backstop
 * timeout, an interrupted run, and B6 last.
 */
import { describe, expect, it } from 'vitest';
import { ConformanceFailure } from './errors.ts';
import { B6_TITLE, executeSuite, type ClusterSeams } from './executor.ts';
import type { CaseResult } from './reporting/junit.ts';
import { simulatedTarget } from './reporting/testing.ts';
import type { RunContext } from './run-context.ts';
import type { SuiteEnvironment } from './suite.ts';
import { defineSuite, type Step } from './suite-definition.ts';
import { resolveTimeouts } from './timeouts.ts';
import { converge } from './wait.ts';

function runContext(): RunContext {
  return {
    runId: 'abc123',
    target: simulatedTarget('/nonexistent/kubeconfig'),
    mtlsModes: ['disabled', 'enabled'],
    apis: ['istio-api'],
    timeouts: resolveTimeouts({}),
    requiredObservations: 3,
    clientImage: 'curlimages/curl',
    keepOnFailure: false,
    reportsDir: '/reports',
    manifestsDir: '/manifests',
  };
}

/** What the fake environments were asked, in order. */
type Journal = string[];

function seams(journal: Journal): Partial<ClusterSeams> {
  return {
    environment: (_run, suite, variant) => {
      const env = {
        suite,
        variant,
        convergence: [] as SuiteEnvironment['convergence'],
        createdNamespaces: ['ns-1'],
        keptNamespaces: [] as string[],
        keepNamespaces(names: string[]) {
          env.keptNamespaces.push(...names);
          journal.push(`keep ${names.join(',')}`);
        },
        cleanup: () => {
          journal.push(`cleanup ${variant.mtls}`);
          return Promise.resolve({ deleted: [], kept: [], restored: [] });
        },
      };
      return env as unknown as SuiteEnvironment;
    },
    verifyCleanup: (_run, environments) => {
      journal.push(`B6 over ${environments.length}`);
      return Promise.resolve({ deleted: [], kept: [], restoredLabels: [] });
    },
    collectDiagnostics: (_env, name) => {
      journal.push(`diagnostics ${name}`);
      return Promise.resolve(['diagnostics/x/case/index.txt']);
    },
  };
}

const failure = new ConformanceFailure({
  behaviour: 'B1.1',
  expected: 'the answer',
  reason: 'no answer',
  observed: 'HTTP 503',
  hint: 'check the gateway',
  observations: 4,
  elapsedMs: 100,
});

function suiteWith(steps: Step<string, string>[], setup = () => Promise.resolve('state')) {
  return defineSuite({
    name: 'http-gateway',
    description: 'test suite',
    behaviours: ['B1'],
    variants: { mtls: ['disabled', 'enabled'], api: ['istio-api'] },
    behaviour: () => 'B1',
    setup,
    steps,
  });
}

async function execute(
  steps: Step<string, string>[],
  {
    setup,
    signal = new AbortController().signal,
    testTimeoutMs = 5000,
  }: { setup?: () => Promise<string>; signal?: AbortSignal; testTimeoutMs?: number } = {},
): Promise<{
  cases: CaseResult[];
  journal: Journal;
  seen: CaseResult[];
  blocks: CaseResult[];
}> {
  const journal: Journal = [];
  const seen: CaseResult[] = [];
  const blocks: CaseResult[] = [];
  const cases = await executeSuite(suiteWith(steps, setup), {
    run: runContext(),
    signal,
    testTimeoutMs,
    hookTimeoutMs: 5000,
    onCase: (entry) => seen.push(entry),
    onBlockFailed: (entry) => blocks.push(entry),
    seams: seams(journal),
  });
  return { cases, journal, seen, blocks };
}

const summary = (cases: CaseResult[]) =>
  cases.map((entry) => `${entry.state} ${entry.group} :: ${entry.name}`);

/** A wait of a minute for an answer that never comes (a check whose evidence is missing). */
const waitsForever = (what: string) =>
  converge({
    what,
    observe: () => Promise.resolve('no answer'),
    check: () => 'no answer yet',
    required: 3,
    timeoutMs: 60_000,
    intervalMs: 1000,
    describe: String,
    hint: 'none',
  });

describe('executeSuite', () => {
  it('applies each stage before the cases after it, per variant, cleans up, and ends with B6', async () => {
    const order: string[] = [];
    const { cases, journal, seen, blocks } = await execute([
      {
        id: 'control',
        title: 'without routes',
        run: ({ state, variant }) => {
          order.push(`control ${variant.mtls} ${state}`);
          return Promise.resolve();
        },
      },
      {
        stage: 'with routes',
        apply: ({ variant }) => {
          order.push(`stage ${variant.mtls}`);
          return Promise.resolve();
        },
      },
      {
        id: '1',
        title: 'through the gateway',
        run: ({ note }) => {
          note({ counter: 3 });
          return Promise.resolve();
        },
      },
    ]);
    expect(order).toEqual([
      'control disabled state',
      'stage disabled',
      'control enabled state',
      'stage enabled',
    ]);
    expect(summary(cases)).toEqual([
      'passed http-gateway [mtls disabled, istio-api] :: B1 negative control: without routes',
      'passed http-gateway [mtls disabled, istio-api] › with routes :: B1.1 through the gateway',
      'passed http-gateway [mtls enabled, istio-api] :: B1 negative control: without routes',
      'passed http-gateway [mtls enabled, istio-api] › with routes :: B1.1 through the gateway',
      `passed http-gateway :: ${B6_TITLE}`,
    ]);
    expect(journal).toEqual(['cleanup disabled', 'cleanup enabled', 'B6 over 2']);
    expect(cases[1]?.meta).toMatchObject({
      behaviour: 'B1',
      mtls: 'disabled',
      notes: { counter: 3 },
    });
    expect(cases.at(-1)?.meta).toMatchObject({ behaviour: 'B6', mtls: 'disabled,enabled' });
    expect(seen).toEqual(cases);
    expect(blocks).toEqual([]);
  });

  it('reports a failed setup once on its block, skips the cases it blocked, and still cleans up', async () => {
    const { cases, journal, seen, blocks } = await execute(
      [{ id: '1', title: 'a case', run: () => Promise.resolve() }],
      { setup: () => Promise.reject(new Error('the client pod never became ready')) },
    );
    expect(summary(cases)).toEqual([
      'skipped http-gateway [mtls disabled, istio-api] :: B1.1 a case',
      'skipped http-gateway [mtls enabled, istio-api] :: B1.1 a case',
      `passed http-gateway :: ${B6_TITLE}`,
      'failed http-gateway [mtls disabled, istio-api] :: setup or cleanup of "http-gateway [mtls disabled, istio-api]"',
      'failed http-gateway [mtls enabled, istio-api] :: setup or cleanup of "http-gateway [mtls enabled, istio-api]"',
    ]);
    expect(cases[0]?.skipReason).toMatch(/setup or a stage before it failed/);
    expect(cases[3]).toMatchObject({
      message: 'the client pod never became ready',
      errorName: 'Error',
      meta: { api: 'istio-api', mtls: 'disabled' },
    });
    expect(journal).toContain('cleanup disabled');
    // Each failed block reported once as it failed, apart from the finished cases.
    expect(blocks).toEqual(cases.slice(3));
    expect(seen).toEqual(cases.slice(0, 3));
  });

  it('skips what follows a failed stage, on the stage block; earlier cases still count', async () => {
    const { cases } = await execute([
      { id: 'control', title: 'before', run: () => Promise.resolve() },
      { stage: 'routes', apply: () => Promise.reject(new Error('HTTP 422 from the webhook')) },
      { id: '1', title: 'after', run: () => Promise.resolve() },
    ]);
    const disabled = cases.filter((entry) => entry.group.includes('mtls disabled'));
    expect(summary(disabled)).toEqual([
      'passed http-gateway [mtls disabled, istio-api] :: B1 negative control: before',
      'skipped http-gateway [mtls disabled, istio-api] › routes :: B1.1 after',
      'failed http-gateway [mtls disabled, istio-api] › routes :: setup or cleanup of "routes"',
    ]);
  });

  it('fails a case with its conformance fields and diagnostics; skip and applies skip with the reason', async () => {
    const { cases, journal } = await execute([
      { id: '1', title: 'fails', run: () => Promise.reject(failure) },
      {
        id: '2',
        title: 'skips',
        run: ({ skip }) => {
          skip('no outbound stats');
          return Promise.resolve();
        },
      },
      {
        id: '3',
        title: 'mTLS only',
        applies: (variant) => variant.mtls === 'enabled' || 'needs mTLS',
        run: () => Promise.resolve(),
      },
    ]);
    const failed = cases[0];
    expect(failed).toMatchObject({
      state: 'failed',
      errorName: 'ConformanceFailure',
      failure: { behaviour: 'B1.1', observed: 'HTTP 503', diagnostics: 'diagnostics/x/case' },
      meta: { diagnostics: ['diagnostics/x/case/index.txt'], kept: ['ns-1'] },
    });
    expect(failed?.stack).toContain('ConformanceFailure');
    expect(journal.slice(0, 2)).toEqual(['keep ns-1', 'diagnostics B1.1 fails']);
    expect(cases[1]).toMatchObject({ state: 'skipped', skipReason: 'no outbound stats' });
    expect(cases[2]).toMatchObject({
      state: 'skipped',
      skipReason: 'not applicable in mtls disabled, istio-api: needs mTLS',
    });
    expect(
      cases.find((entry) => entry.name === 'B1.3 mTLS only' && entry.meta.mtls === 'enabled')
        ?.state,
    ).toBe('passed');
  });

  it('fails a case that outlives its backstop, and the run goes on', async () => {
    const { cases } = await execute(
      [
        { id: '1', title: 'hangs', run: () => new Promise(() => undefined) },
        { id: '2', title: 'next', run: () => Promise.resolve() },
      ],
      { testTimeoutMs: 50 },
    );
    expect(cases[0]).toMatchObject({ state: 'failed' });
    expect(cases[0]?.message).toMatch(/the case "B1\.1 hangs" did not finish within 50 ms/);
    expect(cases[1]?.state).toBe('passed');
  });

  it('starts nothing once interrupted: the rest is skipped as interrupted, B6 too; cleanup still runs', async () => {
    const abort = new AbortController();
    const { cases, journal } = await execute(
      [
        {
          id: '1',
          title: 'interrupted while running',
          run: () => {
            abort.abort();
            return Promise.resolve();
          },
        },
        { id: '2', title: 'not started', run: () => Promise.resolve() },
      ],
      { signal: abort.signal },
    );
    expect(cases.map((entry) => entry.state)).toEqual([
      'passed',
      'skipped',
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect(cases[1]?.skipReason).toMatch(/^interrupted/);
    expect(cases.at(-1)?.name).toBe(B6_TITLE);
    expect(journal).toEqual(['cleanup disabled']);
  });

  it('ends the case in progress at its next wait once interrupted: skipped as interrupted, naming the wait; cleanup runs', async () => {
    const abort = new AbortController();
    const started = Date.now();
    const { cases, journal, blocks } = await execute(
      [
        {
          id: '1',
          title: 'waiting when the signal comes',
          run: async () => {
            setTimeout(() => abort.abort(), 20);
            await waitsForever('the gateway to log the request');
          },
        },
        { id: '2', title: 'not started', run: () => Promise.resolve() },
      ],
      { signal: abort.signal, testTimeoutMs: 120_000 },
    );
    expect(Date.now() - started).toBeLessThan(5000);
    expect(cases[0]).toMatchObject({
      state: 'skipped',
      skipReason:
        'interrupted: the run was cancelled during this case, while waiting for the gateway to log the request',
    });
    // Its variant's next case, the other variant's two, and B6.
    expect(cases.slice(1).map((entry) => entry.state)).toEqual([
      'skipped',
      'skipped',
      'skipped',
      'skipped',
    ]);
    expect(cases[1]?.skipReason).toMatch(/^interrupted: the run was cancelled before/);
    expect(blocks).toEqual([]);
    expect(journal).toEqual(['cleanup disabled']);
  });

  it('a setup cut short by the signal is not a failure: its cases say interrupted, cleanup runs and its waits finish', async () => {
    const abort = new AbortController();
    let cleanupWaited = false;
    const { cases, journal, blocks } = await execute(
      [{ id: '1', title: 'after the setup', run: () => Promise.resolve() }],
      {
        signal: abort.signal,
        setup: async () => {
          abort.abort();
          await waitsForever('the client pod to be ready');
          return 'state';
        },
      },
    );
    // Outside the case, setup and stages (cleanup, here), an aborted run does not cut a wait short.
    await converge({
      what: 'cleanup',
      observe: () => Promise.resolve('done'),
      check: () => true,
      required: 1,
      timeoutMs: 1000,
      intervalMs: 10,
      describe: String,
      hint: 'none',
    }).then(() => (cleanupWaited = true));
    expect(cleanupWaited).toBe(true);
    expect(blocks).toEqual([]);
    expect(cases.map((entry) => `${entry.state} ${entry.skipReason ?? ''}`)).toEqual([
      'skipped interrupted: the run was cancelled before this case started',
      'skipped interrupted: the run was cancelled before this case started',
      'skipped interrupted: the run was cancelled before this case started',
    ]);
    expect(journal).toEqual(['cleanup disabled']);
  });
});
