/**
 * Naming one object, in a module without @kubernetes/client-node so that the stand-in
 * istioctl (simulator/standins/kube-lite.ts) names objects in its errors as the harness does.
 */

/** Enough to identify one object. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** Describes an object for messages, e.g. `VirtualService egc-1/http-gateway`. */
export function refText(ref: ObjectRef): string {
  const ns = ref.metadata.namespace ? `${ref.metadata.namespace}/` : '';
  return `${ref.kind} ${ns}${ref.metadata.name}`;
}
