/** Composes the control loops and admission plugins of simulator/controllers/ on one store. */
import type { ObjectStore, StoreEvent } from './store/object-store.ts';
import { registerAdmission } from './controllers/admission.ts';
import {
  ControllerContext,
  isIgnorable,
  type ControllerOptions,
  type Controllers,
} from './controllers/context.ts';
import { onDeploymentEvent } from './controllers/deployments.ts';
import { onBudgetEvent, onPodForBudgets } from './controllers/disruption.ts';
import { onCrdEvent } from './controllers/crds.ts';
import { collectGarbage } from './controllers/garbage-collector.ts';
import { Kubelet } from './controllers/kubelet.ts';
import { NamespaceController } from './controllers/namespaces.ts';
import { onOwnedPodEvent, onReplicaSetEvent } from './controllers/replicasets.ts';
import { serviceIpAllocator } from './controllers/services.ts';
import { storeKeyOf } from './store/resource-types.ts';
import { GATEWAY_API_WATCHED, onGatewayApiEvent } from './controllers/gateway-api.ts';

export { seedBaseCluster, type BaseClusterOptions } from './controllers/base-cluster.ts';
export {
  CONTROLLER_DEFAULTS,
  type ControllerOptions,
  type Controllers,
} from './controllers/context.ts';
export { podTemplateHash } from './controllers/deployments.ts';
export { hasSidecar, wantsSidecar } from './controllers/injector.ts';

/**
 * Registers the admission plugins and starts the control loops on `store`. Each loop is
 * level-triggered (reads the current state, writes the difference) so that replaying an
 * event is harmless.
 */
export function startControllers(store: ObjectStore, options: ControllerOptions = {}): Controllers {
  const context = new ControllerContext(store, options);
  registerAdmission(store, serviceIpAllocator(store));
  const namespaces = new NamespaceController(context);
  const kubelet = new Kubelet(context);
  const byKind = new Map<string, (event: StoreEvent) => void>([
    ['Namespace', (event) => namespaces.onNamespaceEvent(event)],
    ['Deployment', (event) => onDeploymentEvent(context, event)],
    ['ReplicaSet', (event) => onReplicaSetEvent(context, event)],
    ['CustomResourceDefinition', (event) => onCrdEvent(context, event)],
    ['PodDisruptionBudget', (event) => onBudgetEvent(context, event)],
    [
      'Pod',
      (event) => {
        kubelet.onPodEvent(event);
        onOwnedPodEvent(context, event);
        onPodForBudgets(context, event);
      },
    ],
  ]);
  const unsubscribe = store.watch((event) => {
    if (context.stopped) return;
    try {
      const key = storeKeyOf(event.object);
      byKind.get(key)?.(event);
      if ((GATEWAY_API_WATCHED as readonly string[]).includes(key)) {
        onGatewayApiEvent(context, event, {
          neverProgrammed: context.settings.gatewayNeverProgrammed,
        });
      }
      if (event.type === 'DELETED') collectGarbage(store, event.object);
    } catch (error) {
      if (!isIgnorable(error)) throw error;
    }
  });
  return {
    stop() {
      context.stop();
      unsubscribe();
    },
  };
}
