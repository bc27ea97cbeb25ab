/**
 * When a pod counts as ready, in a module without @kubernetes/client-node so that the
 * stand-in istioctl (simulator/standins/kube-lite.ts) waits by the same rule as the harness
 * without loading that client.
 */

/** The fields of a pod the rule reads. */
export interface PodReadinessShape {
  status?: { phase?: string; conditions?: readonly { type: string; status: string }[] };
}

/** True when the pod runs and every container reports ready. */
export function isPodReady(pod: PodReadinessShape): boolean {
  return (
    pod.status?.phase === 'Running' &&
    (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}
