/**
 * Progress of slow steps (cluster create, Istio install, namespace deletion): a user
 * watching a terminal, or a CI log, must see that the run is still alive and how long
 * the step has taken so far.
 */
import type { Progress } from '../providers/types.ts';

/** Where progress is written (a stream, or anything with `write`). */
export interface ProgressOutput {
  write(text: string): unknown;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** A terminal: the pending line is rewritten in place; otherwise a new line per tick. */
  interactive: boolean;
  /** Time between updates of a pending step [1 s on a terminal, 10 s otherwise]. */
  tickMs?: number;
}

/** A {@link Progress} that can also print other lines around its pending line, and stop. */
export type ProgressReporter = Progress & {
  /** Prints a line of the run's log without tearing the pending line on a terminal. */
  log(line: string): void;
  /** Clears the pending line and the timer. */
  stop(): void;
};

const DEFAULT_TICK_MS = { interactive: 1000, log: 10_000 } as const;
/** Erase the terminal line and return to its start. */
const CLEAR_LINE = '\r\x1b[2K';

/**
 * Creates the run's progress reporter: `step: start`, an updated `… step (42s)` while
 * the step is pending, and `step: done in 1m02s` or `step: failed after 12s`.
 */
export function createProgress(
  out: ProgressOutput,
  {
    interactive,
    tickMs = interactive ? DEFAULT_TICK_MS.interactive : DEFAULT_TICK_MS.log,
  }: ProgressOptions,
): ProgressReporter {
  const pending = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let lineShown = false;

  const clearPendingLine = (): void => {
    if (interactive && lineShown) out.write(CLEAR_LINE);
    lineShown = false;
  };
  const pendingText = (): string =>
    [...pending]
      .map(([step, started]) => `… ${step} (${formatElapsed(Date.now() - started)})`)
      .join('  ');
  const tick = (): void => {
    if (pending.size === 0) return;
    if (interactive) {
      out.write(`${CLEAR_LINE}${pendingText()}`);
      lineShown = true;
    } else {
      for (const [step, started] of pending)
        out.write(`${clock()} … ${step} (${formatElapsed(Date.now() - started)})\n`);
    }
  };
  const syncTimer = (): void => {
    if (pending.size > 0 && !timer) {
      timer = setInterval(tick, tickMs);
      // Progress must never keep the process alive on its own.
      timer.unref();
    } else if (pending.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  const redrawPendingLine = (): void => {
    if (interactive && pending.size > 0) {
      out.write(pendingText());
      lineShown = true;
    }
  };

  const progress: Progress = (step, state, detail) => {
    const tail = detail ? ` (${detail})` : '';
    clearPendingLine();
    if (state === 'start') {
      pending.set(step, Date.now());
      out.write(`${clock()} ${step}: start${tail}\n`);
    } else {
      const started = pending.get(step);
      pending.delete(step);
      const took =
        started === undefined
          ? ''
          : ` ${state === 'done' ? 'in' : 'after'} ${formatElapsed(Date.now() - started)}`;
      out.write(`${clock()} ${step}: ${state}${took}${tail}\n`);
    }
    syncTimer();
    redrawPendingLine();
  };
  return Object.assign(progress, {
    log(line: string): void {
      clearPendingLine();
      out.write(`${line}\n`);
      redrawPendingLine();
    },
    stop(): void {
      clearPendingLine();
      pending.clear();
      syncTimer();
    },
  });
}

/** Whether `stream` is a terminal a line can be rewritten on (not in CI). */
export function isInteractive(
  stream: { isTTY?: boolean },
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  return Boolean(stream.isTTY) && !env.CI && env.TERM !== 'dumb';
}

/** `42s`, `1m02s`, `1h03m`. */
export function formatElapsed(ms: number): string {
  const total = Math.floor(ms / 1000);
  if (total < 60) return `${total}s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes}m${String(total % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

function clock(): string {
  return `[${new Date().toISOString().slice(11, 19)}]`;
}
