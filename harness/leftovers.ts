/**
 * What a run stopped by a second signal may leave behind, and the one command that removes
 * it: the CLI prints this instead of finishing cleanup, so it must be exact.
 */
import { RUN_LABEL, SHARED_LOCK_ANNOTATION } from './run-labels.ts';
import type { ClusterKind } from './providers/types.ts';

/** What the run was pointed at. */
export interface RunPlace {
  runId: string;
  cluster: ClusterKind;
  clusterName: string;
  reuseCluster: boolean;
  kubeconfig: string | undefined;
  context: string | undefined;
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
  const target =
    place.cluster === 'kind'
      ? ` --context kind-${place.clusterName}`
      : `${place.kubeconfig ? ` --kubeconfig ${place.kubeconfig}` : ''}${place.context ? ` --context ${place.context}` : ''}`;
  return (
    `${stopping} What may be left: namespaces labelled ${RUN_LABEL}=${place.runId}; and labels this run borrowed on shared namespaces ` +
    `(annotated ${SHARED_LOCK_ANNOTATION}=${place.runId}), which the next run puts back once the lock has not been renewed for sharedNamespaceLockStale. ` +
    `Remove the namespaces with: kubectl${target} delete namespaces -l ${RUN_LABEL}=${place.runId}`
  );
}
