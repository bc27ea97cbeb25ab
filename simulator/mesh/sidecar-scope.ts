/**
 * Which Sidecar resource configures a sidecar proxy, and the outbound traffic policy it
 * gets from it (SIDECAR_SCOPE in harness/facts/envoy.ts): the oldest selecting Sidecar of
 * the pod's namespace, those with a workloadSelector before the one without, else the root
 * namespace's Sidecar without selector; its `outboundTrafficPolicy`, when set, replaces the
 * mesh config's. Gateways never take one.
 */
import { SIDECAR_SCOPE } from '../../harness/facts/envoy.ts';
import type { KubeObject } from '../types.ts';
import type { MeshContext } from './context.ts';
import {
  isGatewayPod,
  istioObjects,
  labelsOf,
  mapSelects,
  namespaceOf,
  record,
  spec,
  stringMap,
  text,
} from './k8s.ts';

export type OutboundTrafficPolicy = 'ALLOW_ANY' | 'REGISTRY_ONLY';

function selectorOf(sidecar: KubeObject): Record<string, string> | undefined {
  const selector = record(spec(sidecar).workloadSelector);
  return Object.keys(selector).length > 0 ? stringMap(selector.labels) : undefined;
}

/** The Sidecar resource that configures `pod`'s proxy, if any. */
export function sidecarResourceOf(ctx: MeshContext, pod: KubeObject): KubeObject | undefined {
  if (isGatewayPod(pod)) return undefined;
  // istioObjects lists oldest first; a stable sort keeps that order within each group.
  const own = istioObjects(ctx.view, SIDECAR_SCOPE.kind, namespaceOf(pod));
  const ordered = [
    ...own.filter((sidecar) => selectorOf(sidecar) !== undefined),
    ...own.filter((sidecar) => selectorOf(sidecar) === undefined),
  ];
  const selecting = ordered.find((sidecar) => {
    const selector = selectorOf(sidecar);
    return selector === undefined || mapSelects(selector, labelsOf(pod));
  });
  if (selecting) return selecting;
  return istioObjects(ctx.view, SIDECAR_SCOPE.kind, ctx.mesh.rootNamespace).find(
    (sidecar) => selectorOf(sidecar) === undefined,
  );
}

/**
 * The outbound traffic policy of `pod`'s proxy. The `registry-only-ignored` fault makes
 * proxies ignore the Sidecar's policy and keep the mesh config's.
 */
export function outboundTrafficPolicyOf(ctx: MeshContext, pod: KubeObject): OutboundTrafficPolicy {
  const sidecar = ctx.fault('registry-only-ignored') ? undefined : sidecarResourceOf(ctx, pod);
  const mode = sidecar ? text(record(spec(sidecar).outboundTrafficPolicy).mode) : undefined;
  if (mode === 'REGISTRY_ONLY' || mode === 'ALLOW_ANY') return mode;
  return ctx.mesh.outboundTrafficPolicy;
}
