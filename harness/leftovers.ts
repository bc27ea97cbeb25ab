/**
 * What a run may leave on a cluster when it cannot finish its cleanup, and the one command
 * that removes it, by the run's label. Two moments: a second signal stops cleanup at once,
 * and an API server that stopped answering cannot be cleaned up through. The CLI prints
 * these instead of finishing cleanup, so they must be exact.
 */
import { RUN_LABEL, SHARED_LOCK_ANNOTATION } from './run-labels.ts';
import type { ClusterKind } from './providers/types.ts';
import { apiUnavailableSentence } from './k8s/retry.ts';

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
  /** `--disruption check --id`: the run whose probe namespaces this run took over. */
  probesOf?: string | undefined;
}

/** `kubectl` with the flags that reach the run's cluster. */
function kubectl(place: RunPlace): string {
  const target =
    place.cluster === 'kind'
      ? ` --context kind-${place.clusterName}`
      : `${place.kubeconfig ? ` --kubeconfig ${place.kubeconfig}` : ''}${place.context ? ` --context ${place.context}` : ''}`;
  return `kubectl${target}`;
}

/** The runs whose namespaces may be left: this one, and the one whose probes it took over. */
function runIds(place: RunPlace): string[] {
  return place.probesOf && place.probesOf !== place.runId
    ? [place.runId, place.probesOf]
    : [place.runId];
}

/** The label selector of every namespace that may be left, quoted for a shell where needed. */
function runSelector(place: RunPlace): string {
  const ids = runIds(place);
  return ids.length === 1 ? `${RUN_LABEL}=${place.runId}` : `'${RUN_LABEL} in (${ids.join(',')})'`;
}

function namespacesAndLabels(place: RunPlace): string {
  const probes = runIds(place)[1];
  return (
    `namespaces labelled ${RUN_LABEL}=${place.runId}` +
    (probes ? `, the disruption probes' namespaces labelled ${RUN_LABEL}=${probes}` : '') +
    `; and labels this run borrowed on shared namespaces ` +
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
    `Remove the namespaces with: ${kubectl(place)} delete namespaces -l ${runSelector(place)}`
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
    `Once the API server answers again, remove the namespaces with: ${kubectl(place)} delete namespaces -l ${runSelector(place)}`
  );
}

/**
 * What to say of the environment errors a run's suites reported: each sentence once; or, when
 * the API server stopped answering (which fails every later step alike), that one sentence
 * and what may be left on the cluster.
 */
export function environmentErrorLines(
  errors: readonly string[],
  place: RunPlace,
): { lines: string[]; apiDown: boolean } {
  const sentences = new Set(errors.map((message) => message.split('\n')[0] ?? message));
  const apiDown = [...sentences].map(apiUnavailableSentence).find((found) => found);
  if (!apiDown) return { lines: [...sentences], apiDown: false };
  const left = leftoversSentence(place);
  return { lines: left ? [apiDown, left] : [apiDown], apiDown: true };
}
