/** Applying, reading and deleting arbitrary objects (Istio's custom resources included). */
import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { type Kube, errorText, isNotFound } from './client.ts';
import { pollUntil } from '../wait.ts';
import { ApiUnavailableError } from './retry.ts';
import { FIELD_MANAGER } from '../run-labels.ts';
import { refText, type ObjectRef } from './refs.ts';

// Re-exported: it lives in run-labels.ts so that the stand-in istioctl needs no client-node.
export { FIELD_MANAGER };

// Re-exported: they live in refs.ts so that the stand-in istioctl needs no client-node.
export { refText, type ObjectRef };

/**
 * Server-side applies each object in order and returns them as the server stored them.
 * Server-side apply, not the client's default strategic merge: the API server rejects
 * strategic merge on custom resources with 415, and all of Istio's kinds are custom.
 */
export async function applyObjects<T extends KubernetesObject>(
  kube: Kube,
  objects: readonly T[],
): Promise<T[]> {
  const applied: T[] = [];
  for (const object of objects) {
    try {
      applied.push(
        await kube.objects.patch(
          object,
          undefined,
          undefined,
          FIELD_MANAGER,
          true,
          PatchStrategy.ServerSideApply,
        ),
      );
    } catch (error) {
      if (error instanceof ApiUnavailableError) throw error;
      throw new Error(`Applying ${refText(object as ObjectRef)} failed: ${errorText(error)}`, {
        cause: error,
      });
    }
  }
  return applied;
}

/**
 * Merge-patches an object (RFC 7386): only the fields given change, so what another
 * controller set meanwhile survives. Errors name the object and the purpose.
 */
export async function mergePatch(
  kube: Kube,
  patch: ObjectRef & Record<string, unknown>,
  purpose: string,
): Promise<void> {
  try {
    await kube.objects.patch(
      patch as never,
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
  } catch (error) {
    if (error instanceof ApiUnavailableError) throw error;
    throw new Error(`${purpose} (${refText(patch)}) failed: ${errorText(error)}`, { cause: error });
  }
}

/** Reads an object, or undefined when it does not exist. */
export async function readObject<T extends KubernetesObject>(
  kube: Kube,
  ref: ObjectRef,
): Promise<T | undefined> {
  try {
    return await kube.objects.read<T>(ref);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** Deletes an object and waits until the API server no longer has it; absent is fine. */
export async function deleteAndWait(
  kube: Kube,
  ref: ObjectRef,
  { timeoutMs, intervalMs = 100 }: { timeoutMs: number; intervalMs?: number },
): Promise<void> {
  try {
    await kube.objects.delete(ref, undefined, undefined, undefined, undefined, 'Foreground');
  } catch (error) {
    if (isNotFound(error)) return;
    if (error instanceof ApiUnavailableError) throw error;
    throw new Error(`Deleting ${refText(ref)} failed: ${errorText(error)}`, { cause: error });
  }
  await pollUntil({
    what: `${refText(ref)} to be deleted`,
    timeoutMs,
    intervalMs,
    observe: async () => ((await readObject(kube, ref)) ? 'still present' : 'gone'),
    done: (state) => state === 'gone',
    hint: 'a finalizer may be blocking deletion; inspect metadata.finalizers of the object',
  });
}
