/** Namespaces the run creates, and labels it borrows on namespaces it does not own. */
import type { V1Namespace } from '@kubernetes/client-node';
import { mergePatch } from './objects.ts';
import { type Kube, apiFailure, errorText, isNotFound } from './client.ts';
import { ApiOutcomeUnknownError } from './http.ts';
import {
  ApiUnavailableError,
  AttemptTimeoutError,
  statusVerdict,
  withApiRetries,
} from './retry.ts';
import { RETRIED_STATUSES } from '../facts/api-retry.ts';
import { pollUntil } from '../wait.ts';

export { RUN_LABEL } from '../run-labels.ts';
import { RUN_LABEL } from '../run-labels.ts';

/**
 * Creates a namespace labelled with the run id (and `labels`); fails if it already exists.
 * A create is not idempotent, so an attempt whose outcome is unknown (no answer, a 5xx) is
 * sent again only because the run can recognise its own namespace: a 409 after such an
 * attempt is accepted when the namespace carries this run's label (the lost attempt made it).
 */
export async function createNamespace(
  kube: Kube,
  { name, runId, labels = {} }: { name: string; runId: string; labels?: Record<string, string> },
): Promise<V1Namespace> {
  let earlierAttemptMayHaveWorked = false;
  try {
    return await withApiRetries({
      server: kube.server,
      policy: kube.policy,
      what: `creating namespace ${name}`,
      attempt: async () => {
        try {
          return await kube.core.createNamespace({
            body: {
              apiVersion: 'v1',
              kind: 'Namespace',
              metadata: { name, labels: { ...labels, [RUN_LABEL]: runId } },
            },
          });
        } catch (error) {
          if (earlierAttemptMayHaveWorked && apiFailure(error)?.code === 409) {
            const existing = await kube.core.readNamespace({ name });
            if (existing.metadata?.labels?.[RUN_LABEL] === runId) return existing;
          }
          throw error;
        }
      },
      judge: (error) => {
        const code = apiFailure(error)?.code;
        if (code !== undefined && RETRIED_STATUSES.has(code)) {
          earlierAttemptMayHaveWorked ||= code !== 429;
          return statusVerdict(code, 'idempotent');
        }
        if (error instanceof ApiOutcomeUnknownError || error instanceof AttemptTimeoutError) {
          earlierAttemptMayHaveWorked = true;
          return { retry: true, unavailable: true };
        }
        return { retry: false, unavailable: false };
      },
    });
  } catch (error) {
    if (error instanceof ApiUnavailableError) throw error;
    throw new Error(`Creating namespace ${name} failed: ${errorText(error)}`, { cause: error });
  }
}

/**
 * Deletes a namespace this run created and waits until it is gone. Refuses a namespace
 * without this run's label: a run never deletes what it did not create.
 */
export async function deleteNamespaceAndWait(
  kube: Kube,
  {
    name,
    runId,
    timeoutMs,
    intervalMs = 250,
    onWaiting,
  }: {
    name: string;
    runId: string;
    timeoutMs: number;
    intervalMs?: number;
    onWaiting?: () => void;
  },
): Promise<void> {
  let namespace: V1Namespace;
  try {
    namespace = await kube.core.readNamespace({ name });
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
  if (namespace.metadata?.labels?.[RUN_LABEL] !== runId) {
    throw new Error(
      `Refusing to delete namespace ${name}: it does not carry ${RUN_LABEL}=${runId}, so this run did not create it.`,
    );
  }
  try {
    await kube.core.deleteNamespace({ name });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  onWaiting?.();
  await pollUntil({
    what: `namespace ${name} to be deleted`,
    timeoutMs,
    intervalMs,
    observe: async () => {
      try {
        const current = await kube.core.readNamespace({ name });
        return current.status?.phase ?? 'present';
      } catch (error) {
        if (isNotFound(error)) return 'gone';
        throw error;
      }
    },
    done: (phase) => phase === 'gone',
    hint: `a finalizer may be blocking it; inspect the namespace's status.conditions`,
  });
}

/** Label values before a change; `undefined` means the label was absent. */
export type PreviousLabels = Record<string, string | undefined>;

/**
 * Sets labels on a namespace with a merge patch and returns what those keys held
 * before, so {@link restoreNamespaceLabels} can put them back exactly.
 */
export async function setNamespaceLabels(
  kube: Kube,
  name: string,
  labels: Record<string, string>,
): Promise<PreviousLabels> {
  const current = await kube.core.readNamespace({ name });
  const previous: PreviousLabels = {};
  for (const key of Object.keys(labels)) previous[key] = current.metadata?.labels?.[key];
  await patchLabels(kube, name, labels);
  return previous;
}

/** Puts back label values recorded by {@link setNamespaceLabels}; absent ones are removed. */
export async function restoreNamespaceLabels(
  kube: Kube,
  name: string,
  previous: PreviousLabels,
): Promise<void> {
  const patch: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(previous)) patch[key] = value ?? null;
  await patchLabels(kube, name, patch);
}

async function patchLabels(
  kube: Kube,
  name: string,
  labels: Record<string, string | null>,
): Promise<void> {
  // A merge patch touches only these keys: a label another controller added meanwhile survives.
  await mergePatch(
    kube,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } as { name: string } },
    'Patching namespace labels',
  );
}
