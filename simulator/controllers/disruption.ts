/**
 * The disruption controller: keeps each PodDisruptionBudget's status in step with the pods it
 * selects (DISRUPTION_BUDGET_STATUS), so the eviction subresource can honour it.
 */
import { budgetStatus } from '../disruption-budgets.ts';
import type { StoreEvent } from '../store/object-store.ts';
import type { KubeObject } from '../types.ts';
import type { ControllerContext } from './context.ts';

function syncBudget(context: ControllerContext, budget: KubeObject): void {
  const { store } = context;
  // An unchanged status is no write and no event (store.modify), so this settles.
  store.modify('PodDisruptionBudget', budget.metadata.namespace, budget.metadata.name, (draft) => {
    draft.status = budgetStatus(store, draft, store.now());
  });
}

/** A budget changed: its own status. */
export function onBudgetEvent(context: ControllerContext, event: StoreEvent): void {
  if (event.type === 'DELETED') return;
  const { namespace, name } = event.object.metadata;
  const current = context.store.get('PodDisruptionBudget', namespace, name);
  if (current !== undefined) syncBudget(context, current);
}

/** A pod changed (created, ready, deleted): every budget of its namespace recounts. */
export function onPodForBudgets(context: ControllerContext, event: StoreEvent): void {
  const namespace = event.object.metadata.namespace ?? 'default';
  for (const budget of context.store.list('PodDisruptionBudget', { namespace })) {
    syncBudget(context, budget);
  }
}
