import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createProgress, formatElapsed, isInteractive } from './progress.ts';

function recorder(): { write(text: string): void; text: () => string } {
  const chunks: string[] = [];
  return { write: (text) => void chunks.push(text), text: () => chunks.join('') };
}

/** The output with the clock stamps removed, for stable comparisons. */
function plain(text: string): string {
  return text.replace(/\[\d\d:\d\d:\d\d\] /g, '');
}

describe('progress', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2026-11-20T02:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('in a CI log prints a line every 10 s while a step is pending, then the total', () => {
    const out = recorder();
    const progress = createProgress(out, { interactive: false });
    progress('cluster create', 'start', 'kind');
    vi.advanceTimersByTime(25_000);
    progress('cluster create', 'done', 'v1.36.1');
    vi.advanceTimersByTime(30_000);
    expect(plain(out.text())).toBe(
      [
        'cluster create: start (kind)',
        '… cluster create (10s)',
        '… cluster create (20s)',
        'cluster create: done in 25s (v1.36.1)',
        '',
      ].join('\n'),
    );
  });

  it('on a terminal rewrites one line in place and clears it when the step ends', () => {
    const out = recorder();
    const progress = createProgress(out, { interactive: true });
    progress('istio install', 'start');
    vi.advanceTimersByTime(62_000);
    progress('istio install', 'failed', 'istiod not ready');
    const text = out.text();
    expect(text).toContain('\r\x1b[2K… istio install (1m02s)');
    expect(plain(text.split('\r\x1b[2K').at(-1) ?? '')).toBe(
      'istio install: failed after 1m02s (istiod not ready)\n',
    );
    expect(text.match(/\n/g)).toHaveLength(2);
  });

  it('shows parallel steps together and stops ticking when none is pending', () => {
    const out = recorder();
    const progress = createProgress(out, { interactive: false, tickMs: 1000 });
    progress('namespace deletion egc-a', 'start');
    vi.advanceTimersByTime(500);
    progress('namespace deletion egc-b', 'start');
    vi.advanceTimersByTime(600);
    expect(plain(out.text())).toContain('… namespace deletion egc-a (1s)\n');
    progress('namespace deletion egc-a', 'done');
    progress('namespace deletion egc-b', 'done');
    const before = out.text();
    vi.advanceTimersByTime(5000);
    expect(out.text()).toBe(before);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('prints other lines of the run above the pending line, not into it', () => {
    const out = recorder();
    const progress = createProgress(out, { interactive: true });
    progress('cluster create', 'start');
    vi.advanceTimersByTime(3000);
    progress.log('Creating cluster "egress-conformance" ...');
    expect(
      out
        .text()
        .endsWith('\r\x1b[2KCreating cluster "egress-conformance" ...\n… cluster create (3s)'),
    ).toBe(true);
  });

  it('stop() clears its timer', () => {
    const progress = createProgress(recorder(), { interactive: true });
    progress('cluster create', 'start');
    expect(vi.getTimerCount()).toBe(1);
    progress.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a done without a start prints without a duration', () => {
    const out = recorder();
    createProgress(out, { interactive: false })('preflight', 'done');
    expect(plain(out.text())).toBe('preflight: done\n');
  });
});

describe('formatElapsed', () => {
  it.each([
    [0, '0s'],
    [42_900, '42s'],
    [62_000, '1m02s'],
    [3_780_000, '1h03m'],
  ])('%i ms is %s', (ms, text) => {
    expect(formatElapsed(ms)).toBe(text);
  });
});

describe('isInteractive', () => {
  it('is a terminal outside CI only', () => {
    expect(isInteractive({ isTTY: true }, {})).toBe(true);
    expect(isInteractive({ isTTY: true }, { CI: 'true' })).toBe(false);
    expect(isInteractive({}, {})).toBe(false);
  });
});
