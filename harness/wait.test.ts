import { describe, expect, it } from 'vitest';
import {
  ConvergenceTimeoutError,
  WaitTimeoutError,
  converge,
  poll,
  pollUntil,
  interruptibleBy,
  withDeadline,
  WaitInterruptedError,
  type Clock,
  type ConvergeOptions,
} from './wait.ts';

/** A clock that only moves when slept on or told to: no test here really waits. */
function fakeClock(): Clock & { slept: number[]; advance(ms: number): void } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    advance(ms) {
      now += ms;
    },
    sleep(ms) {
      slept.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

/** Observations in order (the last one repeats); each takes `costMs` of the clock's time. */
function sequence<O>(
  clock: { advance(ms: number): void },
  values: O[],
  costMs = 10,
): () => Promise<O> {
  let index = 0;
  return () => {
    clock.advance(costMs);
    const value = values[Math.min(index, values.length - 1)] as O;
    index += 1;
    return Promise.resolve(value);
  };
}

function convergeOn(
  clock: ReturnType<typeof fakeClock>,
  observe: () => Promise<string>,
  overrides: Partial<ConvergeOptions<string>> = {},
) {
  return converge<string>({
    what: 'the answer to be yes',
    observe,
    check: (answer) => (answer === 'yes' ? true : `the answer was ${answer}`),
    required: 3,
    timeoutMs: 1000,
    intervalMs: 50,
    describe: (answer) => `answer "${answer}"`,
    hint: 'ask again',
    clock,
    ...overrides,
  });
}

describe('converge', () => {
  it('converges after N agreeing observations in a row, without pausing between them', async () => {
    const clock = fakeClock();
    const convergence = await convergeOn(clock, sequence(clock, ['yes']));
    expect(convergence).toEqual({ last: 'yes', observations: 3, flips: 0, elapsedMs: 30 });
    expect(clock.slept).toEqual([]);
  });

  it('resets the streak on a disagreement and counts each broken streak as a flip', async () => {
    const clock = fakeClock();
    const answers = ['yes', 'no', 'yes', 'yes', 'no', 'no', 'yes', 'yes', 'yes'];
    const convergence = await convergeOn(clock, sequence(clock, answers));
    expect(convergence.observations).toBe(9);
    expect(convergence.flips).toBe(2);
    expect(convergence.last).toBe('yes');
  });

  it('pauses for the interval only after a disagreeing observation', async () => {
    const clock = fakeClock();
    await convergeOn(clock, sequence(clock, ['no', 'yes', 'no', 'no', 'yes']));
    expect(clock.slept).toEqual([50, 50, 50]);
  });

  it('fails at the budget with the expectation, the last observation, the budget and the hint', async () => {
    const clock = fakeClock();
    const failure = await convergeOn(clock, sequence(clock, ['no', 'maybe']), {
      timeoutMs: 200,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConvergenceTimeoutError);
    expect(failure).toMatchObject({
      what: 'the answer to be yes',
      required: 3,
      budgetMs: 200,
      reason: 'the answer was maybe',
      observed: 'answer "maybe"',
      hint: 'ask again',
      flips: 0,
    });
    const { observations, elapsedMs } = failure as ConvergenceTimeoutError;
    // 10 ms per observation plus 50 ms pauses: the budget ends after the fifth.
    expect(observations).toBe(5);
    expect(elapsedMs).toBe(210);
    // The last pause is cut to what is left of the budget.
    expect(clock.slept).toEqual([50, 50, 50, 10]);
    const lines = (failure as Error).message.split('\n');
    expect(lines[0]).toBe(
      `Expected the answer to be yes in 3 consecutive observations within 200 ms, but after 5 observations (210 ms) it did not hold: the answer was maybe.`,
    );
    expect(lines.slice(1)).toEqual(['Last observation: answer "maybe"', 'Hint: ask again']);
  });

  it('says when the budget ran out in the middle of an agreeing streak', async () => {
    const clock = fakeClock();
    const failure = (await convergeOn(clock, sequence(clock, ['no', 'yes', 'yes'], 40), {
      timeoutMs: 160,
    }).catch((error: unknown) => error)) as ConvergenceTimeoutError;
    expect(failure.reason).toBe(
      'only 2 of 3 consecutive observations agreed before the budget ran out; the last disagreeing one: the answer was no',
    );
    expect(failure.observed).toBe('answer "yes"');
  });

  it('reports an observe() that throws as the last observation, and keeps observing', async () => {
    const clock = fakeClock();
    const failing = await convergeOn(
      clock,
      () => {
        clock.advance(10);
        return Promise.reject(new Error('exec into the client pod failed'));
      },
      { timeoutMs: 100 },
    ).catch((error: unknown) => error);
    expect(failing).toBeInstanceOf(ConvergenceTimeoutError);
    expect((failing as ConvergenceTimeoutError).reason).toBe(
      'the observation failed: exec into the client pod failed',
    );
    expect((failing as ConvergenceTimeoutError).observed).toBe(
      'none, the attempt failed: exec into the client pod failed',
    );
    expect((failing as ConvergenceTimeoutError).observations).toBeGreaterThan(1);

    let calls = 0;
    const recovering = await convergeOn(clock, () => {
      calls += 1;
      return calls === 1 ? Promise.reject(new Error('transient')) : Promise.resolve('yes');
    });
    expect(recovering.observations).toBe(4);
  });
});

describe('poll and pollUntil', () => {
  it('returns the first observation that is done', async () => {
    const clock = fakeClock();
    const value = await pollUntil<number>({
      what: 'the pod to be ready',
      observe: sequence(clock, [0, 1, 2, 3]),
      done: (ready) => ready >= 2,
      timeoutMs: 1000,
      intervalMs: 100,
      clock,
    });
    expect(value).toBe(2);
    expect(clock.slept).toEqual([100, 100]);
  });

  it('pollUntil fails at the budget with the last observation and the hint', async () => {
    const clock = fakeClock();
    const failure = await pollUntil<{ ready: number }>({
      what: 'deployment a/curl to be ready',
      observe: sequence(clock, [{ ready: 0 }]),
      done: ({ ready }) => ready > 0,
      timeoutMs: 300,
      intervalMs: 100,
      hint: 'look at the events',
      clock,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WaitTimeoutError);
    expect(failure).toMatchObject({
      what: 'deployment a/curl to be ready',
      budgetMs: 300,
      elapsedMs: 310,
      observations: 4,
      observed: '{"ready":0}',
      hint: 'look at the events',
    });
    expect((failure as Error).message).toBe(
      'Timed out after 300 ms waiting for deployment a/curl to be ready; last observation: {"ready":0}. Hint: look at the events.',
    );
  });

  it('counts a thrown observation as not done, and says so when it was the last', async () => {
    const clock = fakeClock();
    const failure = (await pollUntil({
      what: 'namespace x to be deleted',
      observe: () => {
        clock.advance(10);
        return Promise.reject(new Error('HTTP 500'));
      },
      done: () => true,
      timeoutMs: 100,
      clock,
    }).catch((error: unknown) => error)) as WaitTimeoutError;
    expect(failure.observed).toBe('none, the attempt failed: HTTP 500');
  });

  it('poll reports expiry as an outcome, not an error', async () => {
    const clock = fakeClock();
    const outcome = await poll({
      observe: sequence(clock, ['nothing yet']),
      done: () => false,
      timeoutMs: 50,
      intervalMs: 20,
      clock,
    });
    expect(outcome).toMatchObject({
      done: false,
      last: { ok: true, value: 'nothing yet' },
      observations: 3,
    });
  });
});

describe('withDeadline', () => {
  it('returns what the work returns when it finishes first, and ends its timer', async () => {
    let aborted = false;
    const clock: Clock = {
      now: () => 0,
      sleep: (_ms, signal) =>
        new Promise((resolve) =>
          signal?.addEventListener('abort', () => {
            aborted = true;
            resolve();
          }),
        ),
    };
    await expect(
      withDeadline(Promise.resolve(42), { what: 'listing pods', timeoutMs: 10, clock }),
    ).resolves.toBe(42);
    expect(aborted).toBe(true);
    await expect(
      withDeadline(Promise.reject(new Error('forbidden')), {
        what: 'listing pods',
        timeoutMs: 10,
        clock,
      }),
    ).rejects.toThrow('forbidden');
  });

  it('fails naming the work and the budget when the deadline comes first', async () => {
    const clock = fakeClock();
    const never = new Promise<never>(() => {});
    const failure = await withDeadline(never, {
      what: 'istioctl analyze',
      timeoutMs: 30_000,
      clock,
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WaitTimeoutError);
    expect((failure as Error).message).toBe('istioctl analyze did not finish within 30000 ms');
    expect(clock.slept).toEqual([30_000]);
  });
});

describe('an interrupted run', () => {
  it('ends poll, pollUntil and converge before their next observation, naming what they awaited', async () => {
    const clock = fakeClock();
    const aborted = AbortSignal.abort();
    let observed = 0;
    const observe = () => {
      observed += 1;
      return Promise.resolve('no');
    };
    const waits: (() => Promise<unknown>)[] = [
      () => poll({ observe, done: () => false, timeoutMs: 1000, clock, what: 'the pod' }),
      () => pollUntil({ what: 'the pod', observe, done: () => false, timeoutMs: 1000, clock }),
      () => convergeOn(clock, observe, { what: 'the pod' }),
    ];
    for (const wait of waits) {
      const error = await interruptibleBy(aborted, wait).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WaitInterruptedError);
      expect((error as Error).message).toBe('the run was interrupted while waiting for the pod');
    }
    expect(observed).toBe(0);
  });

  it('cuts a pause short: the signal arriving mid-pause ends the wait at once', async () => {
    const controller = new AbortController();
    let observed = 0;
    const started = Date.now();
    const error = await interruptibleBy(controller.signal, () =>
      converge({
        what: 'the answer to be yes',
        observe: () => {
          observed += 1;
          if (observed === 1) setTimeout(() => controller.abort(), 10);
          return Promise.resolve('no');
        },
        check: () => 'not yet',
        required: 3,
        timeoutMs: 60_000,
        intervalMs: 5_000,
        describe: String,
        hint: 'none',
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WaitInterruptedError);
    expect(observed).toBe(1);
    // The real clock's pause of 5 s was cut short.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('does not take an interrupted nested wait for a failed observation, nor reach waits outside its scope', async () => {
    const clock = fakeClock();
    // A wait inside an observation that was interrupted ends the outer wait too.
    const nested = () =>
      convergeOn(clock, () => Promise.reject(new WaitInterruptedError('the inner thing')));
    await expect(nested()).rejects.toBeInstanceOf(WaitInterruptedError);
    // Suites run at once: one scope's signal does not reach a wait outside it (cleanup's).
    const inScope = interruptibleBy(AbortSignal.abort(), () =>
      convergeOn(clock, sequence(clock, ['no'])),
    ).catch((e: unknown) => e);
    await expect(convergeOn(clock, sequence(clock, ['yes']))).resolves.toMatchObject({
      observations: 3,
    });
    expect(await inScope).toBeInstanceOf(WaitInterruptedError);
  });
});
