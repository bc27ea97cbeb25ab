/**
 * Reading one container's log for a time window. Per pod through the API with
 * `sinceTime`, never `kubectl logs -l`, which shows only the last 10 lines per pod.
 */
import { Writable } from 'node:stream';
import type { Kube } from './client.ts';
import { errorText } from './client.ts';

/** Reads the log of one container since `since` (the API has second resolution: pass a margin). */
export async function readContainerLog(
  kube: Kube,
  {
    namespace,
    pod,
    container,
    since,
    limitBytes,
  }: {
    namespace: string;
    pod: string;
    container: string;
    since?: Date;
    limitBytes?: number;
  },
): Promise<string> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      callback();
    },
  });
  const finished = new Promise<void>((resolve, reject) => {
    sink.on('finish', resolve);
    sink.on('error', reject);
  });
  try {
    await kube.log.log(namespace, pod, container, sink, {
      follow: false,
      ...(since ? { sinceTime: since.toISOString().replace(/\.\d{3}Z$/, 'Z') } : {}),
      ...(limitBytes ? { limitBytes } : {}),
    });
  } catch (error) {
    throw new Error(
      `Reading the log of ${namespace}/${pod} container ${container} failed: ${errorText(error)}`,
      {
        cause: error,
      },
    );
  }
  await finished;
  return Buffer.concat(chunks).toString('utf8');
}
