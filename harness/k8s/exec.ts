/**
 * Running a command in a container. client-node's `Exec.exec` resolves when the
 * WebSocket opens, not when the command ends; this waits for the status frame.
 */
import { Writable } from 'node:stream';
import type { V1Status } from '@kubernetes/client-node';
import type { Kube } from './client.ts';
import { errorText } from './client.ts';

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

/** Runs `command` and resolves on the status frame with stdout, stderr and the exit code. */
export async function execInPod(
  kube: Kube,
  { namespace, pod, container, command, timeoutMs }: ExecOptions,
): Promise<ExecOutput> {
  const where = `${namespace}/${pod} container ${container}`;
  const stdout = collector();
  const stderr = collector();
  let socket: { close(): void } | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<ExecOutput>((resolve, reject) => {
      timer = setTimeout(() => {
        reject(
          new ExecError(
            `exec in ${where} did not finish within ${timeoutMs} ms: ${command.join(' ')}`,
          ),
        );
      }, timeoutMs);
      const onStatus = (status: V1Status): void => {
        if (status.status === 'Success') {
          resolve({ stdout: stdout.text(), stderr: stderr.text(), exitCode: 0 });
          return;
        }
        const exitCause = status.details?.causes?.find((cause) => cause.reason === 'ExitCode');
        if (status.reason === 'NonZeroExitCode' && exitCause?.message) {
          resolve({
            stdout: stdout.text(),
            stderr: stderr.text(),
            exitCode: Number(exitCause.message),
          });
          return;
        }
        reject(
          new ExecError(
            `exec in ${where} failed: ${status.message ?? status.reason ?? 'unknown status'}`,
          ),
        );
      };
      kube.exec
        .exec(
          namespace,
          pod,
          container,
          command,
          stdout.stream,
          stderr.stream,
          null,
          false,
          onStatus,
        )
        .then((ws) => {
          socket = ws;
          // A socket that closes without a status frame would otherwise leave us waiting for the timeout.
          ws.on('close', () => {
            setTimeout(
              () => reject(new ExecError(`exec in ${where} closed without an exit status`)),
              50,
            );
          });
        })
        .catch((error: unknown) =>
          reject(new ExecError(`exec in ${where} failed: ${errorText(error)}`, { cause: error })),
        );
    });
  } finally {
    if (timer) clearTimeout(timer);
    socket?.close();
  }
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
