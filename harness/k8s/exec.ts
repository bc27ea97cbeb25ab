/**
 * Running a command in a container. client-node's `Exec.exec` resolves when the
 * WebSocket opens, not when the command ends; this waits for the status frame.
 */
import { Writable } from 'node:stream';
import type { V1Status } from '@kubernetes/client-node';
import type { Kube } from './client.ts';
import { errorText } from './client.ts';
import {
  ApiUnavailableError,
  statusVerdict,
  transportVerdict,
  withApiRetries,
  type AttemptVerdict,
} from './retry.ts';

/** What the command printed and how it ended. */
export interface ExecOutput {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Options of {@link execInPod}. */
export interface ExecOptions {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  timeoutMs: number;
}

/** Thrown when the exec could not run at all (as opposed to the command exiting non-zero). */
export class ExecError extends Error {
  override name = 'ExecError';
}

/**
 * Runs `command` and resolves on the status frame with stdout, stderr and the exit code.
 *
 * Only the opening handshake is retried (through harness/k8s/retry.ts): until the
 * WebSocket is open the command has not started, so a refused, dropped or throttled
 * handshake can be sent again whatever the command does. Once it is open, a failure is
 * not retried here: a curl to the external host may already have reached the gateway, and
 * a second run would put a second entry for the same request in its access log. The
 * caller's convergence loop observes again with a new request instead.
 */
export async function execInPod(
  kube: Kube,
  { namespace, pod, container, command, timeoutMs }: ExecOptions,
): Promise<ExecOutput> {
  const where = `${namespace}/${pod} container ${container}`;
  const stdout = collector();
  const stderr = collector();
  let finish!: { resolve: (output: ExecOutput) => void; reject: (error: Error) => void };
  const finished = new Promise<ExecOutput>((resolve, reject) => {
    finish = { resolve, reject };
  });
  finished.catch(() => undefined);
  const onStatus = (status: V1Status): void => {
    if (status.status === 'Success') {
      finish.resolve({ stdout: stdout.text(), stderr: stderr.text(), exitCode: 0 });
      return;
    }
    const exitCause = status.details?.causes?.find((cause) => cause.reason === 'ExitCode');
    if (status.reason === 'NonZeroExitCode' && exitCause?.message) {
      finish.resolve({
        stdout: stdout.text(),
        stderr: stderr.text(),
        exitCode: Number(exitCause.message),
      });
      return;
    }
    finish.reject(
      new ExecError(
        `exec in ${where} failed: ${status.message ?? status.reason ?? 'unknown status'}`,
      ),
    );
  };
  let socket: { close(): void; on(event: 'close', listener: () => void): unknown };
  try {
    socket = await withApiRetries({
      server: kube.server,
      policy: kube.policy,
      what: `exec in ${where}`,
      attempt: async (signal) => {
        const opening = kube.exec.exec(
          namespace,
          pod,
          container,
          command,
          stdout.stream,
          stderr.stream,
          null,
          false,
          onStatus,
        );
        try {
          return await untilAborted(opening, signal);
        } catch (error) {
          // A socket that opens after its attempt gave up must not run unobserved.
          if (signal.aborted) opening.then((late) => late.close()).catch(() => undefined);
          throw asError(error);
        }
      },
      judge: handshakeVerdict,
    });
  } catch (error) {
    if (error instanceof ApiUnavailableError) throw error;
    throw new ExecError(`exec in ${where} failed: ${errorText(error)}`, { cause: error });
  }
  let timer: NodeJS.Timeout | undefined;
  let closed: NodeJS.Timeout | undefined;
  try {
    return await new Promise<ExecOutput>((resolve, reject) => {
      timer = setTimeout(() => {
        reject(
          new ExecError(
            `exec in ${where} did not finish within ${timeoutMs} ms: ${command.join(' ')}`,
          ),
        );
      }, timeoutMs);
      finished.then(resolve, reject);
      // A socket that closes without a status frame would otherwise leave us waiting for the timeout.
      socket.on('close', () => {
        closed = setTimeout(
          () => reject(new ExecError(`exec in ${where} closed without an exit status`)),
          50,
        );
      });
    });
  } finally {
    clearTimeout(timer);
    clearTimeout(closed);
    socket.close();
  }
}

/** Handshake failures: the command has not started, so any verb-level retry is safe. */
function handshakeVerdict(error: unknown): AttemptVerdict {
  const status = /Unexpected server response: (\d+)/.exec(
    error instanceof Error ? error.message : '',
  )?.[1];
  if (status !== undefined) return statusVerdict(Number(status), 'idempotent');
  return transportVerdict(error, 'idempotent');
}

/** ws reports handshake failures as ErrorEvents, not Errors. */
function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  const event = error as { message?: unknown; error?: unknown };
  return new Error(typeof event.message === 'string' ? event.message : String(error), {
    cause: event.error,
  });
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function collector(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer | string, _encoding, callback) {
        chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
        callback();
      },
    }),
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}
