/**
 * What a run may leave on a cluster when it cannot finish its cleanup, and the one command
 * that removes it, by the run's label. Two moments: a second signal stops cleanup at once,
 * and an API server that stopped answering cannot be cleaned up through. The CLI prints
 * these instead of finishing cleanup, so they must be exact.
 */
import { RUN_LABEL, SHARED_LOCK_ANNOTATION } from './run-labels.ts';
import type { ClusterKind } from './providers/types.ts';

/** What the run was pointed at. */
export interface RunPlace {
  runId: string;
  cluster: ClusterKind;
  clusterName: string;
  /** A kind cluster outlives the run with `--reuse-cluster` or `--keep-cluster`. */
  reuseCluster: boolean;
  keepCluster: boolean;
  kubeconfig: string | undefined;
  context: string | undefined;
}

/** `kubectl` with the flags that reach the run's cluster. */
function kubectl(place: RunPlace): string {
  const target =
    place.cluster === 'kind'
      ? ` --context kind-${place.clusterName}`
      : `${place.kubeconfig ? ` --kubeconfig ${place.kubeconfig}` : ''}${place.context ? ` --context ${place.context}` : ''}`;
  return `kubectl${target}`;
}

function namespacesAndLabels(place: RunPlace): string {
  return (
    `namespaces labelled ${RUN_LABEL}=${place.runId}; and labels this run borrowed on shared namespaces ` +
    `(annotated ${SHARED_LOCK_ANNOTATION}=${place.runId}), which the next run puts back once the lock has not been renewed for sharedNamespaceLockStale`
  );
}

/** The message after a second signal: what may be left, and the command that removes it. */
export function leftoversMessage(signal: NodeJS.Signals, place: RunPlace): string {
  const stopping = `${signal} again: stopping without finishing cleanup.`;
  if (place.cluster === 'simulated') {
    return `${stopping} Nothing is left: the simulated cluster ends with this process.`;
  }
  if (place.cluster === 'kind' && !place.reuseCluster) {
    // Deleting the cluster the run created removes everything the run made inside it too.
    return `${stopping} What may be left: the kind cluster ${place.clusterName}, created by this run, with everything in it. Remove it with: kind delete cluster --name ${place.clusterName}`;
  }
  return (
    `${stopping} What may be left: ${namespacesAndLabels(place)}. ` +
    `Remove the namespaces with: ${kubectl(place)} delete namespaces -l ${RUN_LABEL}=${place.runId}`
  );
}

/**
 * After the API server stopped answering: one sentence naming what may be left and the
 * command that removes it; undefined when the cluster itself goes with the run (the
 * simulated cluster, a kind cluster the run deletes without the API server).
 */
export function leftoversSentence(place: RunPlace): string | undefined {
  if (place.cluster === 'simulated') return undefined;
  if (place.cluster === 'kind' && !place.reuseCluster && !place.keepCluster) return undefined;
  return (
    `What may be left on the cluster: ${namespacesAndLabels(place)}. ` +
    `Once the API server answers again, remove the namespaces with: ${kubectl(place)} delete namespaces -l ${RUN_LABEL}=${place.runId}`
  );
}
