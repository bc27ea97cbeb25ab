/**
 * When a pod counts as ready, and waiting for a Deployment's pods by that rule, in a module
 * without @kubernetes/client-node so that the stand-in istioctl
 * (simulator/standins/kube-lite.ts) waits by the same rule as the harness without loading
 * that client.
 */
import { pollUntil } from '../wait.ts';

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

/** The fields of a Deployment the rule reads. */
export interface DeploymentReadinessShape {
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> } };
}

/**
 * Waits until a Deployment has as many ready pods (matching its selector) as it wants
 * replicas, and returns them. The reads are the caller's: the harness reads through
 * client-node, the stand-in istioctl through its own small client.
 */
export async function waitForReadyPods<
  Pod extends PodReadinessShape & { metadata?: { name?: string } },
>({
  namespace,
  name,
  timeoutMs,
  intervalMs = 200,
  readDeployment,
  listPods,
}: {
  namespace: string;
  name: string;
  timeoutMs: number;
  intervalMs?: number;
  readDeployment: () => Promise<DeploymentReadinessShape>;
  listPods: (labelSelector: string) => Promise<Pod[]>;
}): Promise<Pod[]> {
  let pods: Pod[] = [];
  await pollUntil({
    what: `deployment ${namespace}/${name} to be ready`,
    timeoutMs,
    intervalMs,
    observe: async () => {
      const deployment = await readDeployment();
      const wanted = deployment.spec?.replicas ?? 1;
      const selector = Object.entries(deployment.spec?.selector?.matchLabels ?? {})
        .map(([key, value]) => `${key}=${value}`)
        .join(',');
      pods = (await listPods(selector)).filter(isPodReady);
      return {
        wanted,
        ready: pods.length,
        podPhases: pods.map((p) => `${p.metadata?.name}:${p.status?.phase}`),
      };
    },
    done: ({ wanted, ready }) => ready >= wanted,
    hint: `look at the pods' events in ${namespace} (image pull, scheduling, sidecar injection)`,
  });
  return pods;
}
