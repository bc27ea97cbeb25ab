/**
 * The CLI's answer to SIGINT and SIGTERM, for plain and upgrade runs alike: the first signal
 * cancels the run, which then deletes what it created and exits 130 or 143; a second stops at
 * once, saying what may be left and the one command that removes it (leftovers.ts).
 */
import { leftoversMessage, type RunPlace } from './leftovers.ts';

/** The exit code of a run a signal ended: 128 + the signal's number (SIGINT 130, SIGTERM 143). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGTERM' ? 143 : 130;
}

/** Where the signals come from: the process, or a stand-in in tests. */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

/** The run's signal handling, once installed. */
export interface Interrupts {
  /** The signal that interrupted the run, if one did. */
  readonly signal: NodeJS.Signals | undefined;
  /** Stops listening: the run has finished its cleanup. */
  stop(): void;
}

/**
 * Listens for SIGINT and SIGTERM. The first calls `cancel`; a second says
 * {@link leftoversMessage} for `place()` (read then: a run may decide late to keep its
 * cluster), calls `beforeExit` (delete what must never stay, e.g. the run folder's
 * kubeconfig) and exits at once.
 */
export function handleInterrupts({
  place,
  complain,
  cancel,
  beforeExit = () => {},
  exit = (code) => process.exit(code),
  source = process,
}: {
  place: () => RunPlace;
  complain: (line: string) => void;
  cancel: (signal: NodeJS.Signals) => void;
  beforeExit?: () => void;
  exit?: (code: number) => void;
  source?: SignalSource;
}): Interrupts {
  let first: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (first) {
      complain(leftoversMessage(signal, place()));
      beforeExit();
      exit(signalExitCode(signal));
      return;
    }
    first = signal;
    complain(
      `interrupted by ${signal}: cleaning up what this run created (a second signal stops at once)`,
    );
    cancel(signal);
  };
  source.on('SIGINT', onSignal);
  source.on('SIGTERM', onSignal);
  return {
    get signal() {
      return first;
    },
    stop() {
      source.off('SIGINT', onSignal);
      source.off('SIGTERM', onSignal);
    },
  };
}
