import { describe, expect, it } from 'vitest';
// The function vitest's workers pass every test error through before sending it to the
// reporters (internal, but it is exactly what decides which fields reach the reports).
import { processError } from 'vitest/internal/browser';
import {
  ConformanceFailure,
  EnvironmentError,
  failureFields,
  renderFailure,
  type FailureFields,
} from './errors.ts';

const CONVERGENCE: FailureFields = {
  behaviour: 'B3.1',
  expected: 'TLS from a/curl to host.test to end at the external host',
  reason: 'the client was shown a certificate with subject "CN = istio-egressgateway"',
  observed: 'request https://host.test/: HTTP 200 from 10.0.0.1:443',
  hint: 'PASSTHROUGH must be set on the Gateway',
  observations: 12,
  elapsedMs: 8050,
  budgetMs: 8000,
  required: 3,
  flips: 1,
};

describe('ConformanceFailure', () => {
  it('renders its message from its fields, in the shape the reports and users know', () => {
    const failure = new ConformanceFailure(CONVERGENCE);
    expect(failure.message.split('\n')).toEqual([
      '[B3.1] Expected TLS from a/curl to host.test to end at the external host in 3 consecutive observations within 8000 ms, but after 12 observations (8050 ms) it did not hold: the client was shown a certificate with subject "CN = istio-egressgateway".',
      'Last observation: request https://host.test/: HTTP 200 from 10.0.0.1:443',
      'Hint: PASSTHROUGH must be set on the Gateway',
    ]);
    expect(failure).toMatchObject(CONVERGENCE);
  });

  it('renders a one-shot check without a budget, and a list of problems on its own lines', () => {
    const text = renderFailure({
      behaviour: 'B6',
      expected: 'the suite to leave the cluster as it found it',
      reason: '2 thing(s) the run created or changed remain',
      observed: '\n- namespace a still exists\n- label x on b is absent',
      hint: 'delete them',
      observations: 1,
      elapsedMs: 0,
      diagnostics: 'diagnostics/x/y',
    });
    expect(text).toBe(
      [
        '[B6] Expected the suite to leave the cluster as it found it, but it did not hold: 2 thing(s) the run created or changed remain.',
        'Last observation:',
        '- namespace a still exists',
        '- label x on b is absent',
        'Hint: delete them',
        'Diagnostics: diagnostics/x/y',
      ].join('\n'),
    );
  });

  it('keeps every field through vitest serialising it in a worker', () => {
    const serialised: unknown = structuredClone(processError(new ConformanceFailure(CONVERGENCE)));
    expect(failureFields(serialised)).toEqual(CONVERGENCE);
    expect((serialised as { message: string }).message).toMatch(/^\[B3\.1\] Expected /);
  });

  it('has no fields to read from other errors', () => {
    expect(failureFields(new Error('boom'))).toBeUndefined();
    expect(failureFields(processError(new EnvironmentError('no docker')))).toBeUndefined();
    expect(
      failureFields({ name: 'ConformanceFailure', message: '[B1] old style' }),
    ).toBeUndefined();
    expect(failureFields('ConformanceFailure')).toBeUndefined();
  });
});
