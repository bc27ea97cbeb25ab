/**
 * Reading one container's log for a time window. Per pod through the API with
 * `sinceTime`, never `kubectl logs -l`, which shows only the last 10 lines per pod.
 *
 * A read without `follow` is a plain GET whose answer is the log text, so it goes through
 * the bounded, retried HTTP layer (harness/k8s/http.ts) like every other request: the whole
 * body must arrive within `apiRequest`, a body that breaks off fails the attempt (and is
 * read again: a read cannot double anything), and the caller never sees a truncated log.
 * client-node's `Log.log` pipes the body into a stream without forwarding its errors.
 */
import { Observable, type ObservableMiddleware as Middleware } from '@kubernetes/client-node';
import type { Kube } from './client.ts';
import { errorText } from './client.ts';
import { ApiUnavailableError } from './retry.ts';

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
  // The generated client has no `sinceTime` parameter (the API has it): add it to the query.
  const sinceTime = since?.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const addSinceTime: Middleware = {
    pre: (request) => {
      if (sinceTime) request.setQueryParam('sinceTime', sinceTime);
      return new Observable(Promise.resolve(request));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  try {
    return await kube.core.readNamespacedPodLog(
      { namespace, name: pod, container, ...(limitBytes ? { limitBytes } : {}) },
      { middleware: [addSinceTime], middlewareMergeStrategy: 'append' },
    );
  } catch (error) {
    if (error instanceof ApiUnavailableError) throw error;
    throw new Error(
      `Reading the log of ${namespace}/${pod} container ${container} failed: ${errorText(error)}`,
      { cause: error },
    );
  }
}
