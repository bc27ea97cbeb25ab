/** Waiting for workloads the suites depend on (clients, the gateway) to be ready. */
import type { V1Pod } from '@kubernetes/client-node';
import type { Kube } from './client.ts';
import { mergePatch } from './objects.ts';
import { isPodReady, waitForReadyPods } from './readiness.ts';
import { KUBECTL_ROLLOUT_RESTART } from '../facts/kube-api.ts';

/** Lists pods by label selector, running and ready ones first. */
export async function listPods(
  kube: Kube,
  namespace: string,
  labelSelector: string,
): Promise<V1Pod[]> {
  const list = await kube.core.listNamespacedPod({ namespace, labelSelector });
  return list.items.filter((pod) => !pod.metadata?.deletionTimestamp);
}

// Re-exported: the rule lives where the stand-in istioctl can share it without client-node.
export { isPodReady };

/** Waits until the deployment has all its replicas ready and returns its ready pods. */
export async function waitForDeploymentReady(
  kube: Kube,
  options: { namespace: string; name: string; timeoutMs: number; intervalMs?: number },
): Promise<V1Pod[]> {
  const { namespace, name } = options;
  return waitForReadyPods({
    ...options,
    readDeployment: () => kube.apps.readNamespacedDeployment({ namespace, name }),
    listPods: (selector) => listPods(kube, namespace, selector),
  });
}

/**
 * Restarts a Deployment as `kubectl rollout restart` does: a new template annotation rolls
 * its pods. `what` names the step in an error ("Restarting CoreDNS").
 */
export async function restartDeployment(
  kube: Kube,
  namespace: string,
  name: string,
  what = 'Restarting the deployment',
): Promise<void> {
  await mergePatch(
    kube,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
      spec: {
        template: {
          metadata: {
            annotations: { [KUBECTL_ROLLOUT_RESTART.annotation]: new Date().toISOString() },
          },
        },
      },
    },
    what,
  );
}
