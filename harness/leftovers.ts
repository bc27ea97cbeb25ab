/**
 * What a run may leave on a cluster when it cannot finish its cleanup (the API server
 * stopped answering), and the one command that removes it, by the run's label.
 */
import { RUN_LABEL, SHARED_LOCK_ANNOTATION } from './run-labels.ts';
import type { ClusterKind } from './providers/types.ts';

/** The cluster a run used, as far as leftovers go. */
export interface LeftoverScope {
  runId: string;
  cluster: ClusterKind;
  /** A kind cluster outlives the run with `--reuse-cluster` or `--keep-cluster`. */
  reuseCluster: boolean;
  keepCluster: boolean;
}

/**
 * One sentence naming what may be left and the command that removes it; undefined when the
 * cluster itself goes with the run (the simulated cluster, a kind cluster the run deletes).
 */
export function leftoversSentence({
  runId,
  cluster,
  reuseCluster,
  keepCluster,
}: LeftoverScope): string | undefined {
  if (cluster === 'simulated') return undefined;
  if (cluster === 'kind' && !reuseCluster && !keepCluster) return undefined;
  return (
    `What may be left on the cluster: namespaces labelled ${RUN_LABEL}=${runId}, and labels borrowed on shared namespaces (annotated ${SHARED_LOCK_ANNOTATION}=${runId}); ` +
    `once the API server answers again, remove them with: kubectl delete namespaces -l ${RUN_LABEL}=${runId} ` +
    `(and restore the borrowed labels listed in the reports).`
  );
}
