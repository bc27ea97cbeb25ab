/**
 * The pod network: a connection from a pod to an address reaches a Service's endpoint
 * (kube-proxy), a pod, or an external host, if NetworkPolicy lets it; then whatever
 * listens there answers. Gateway pods answer with the gateway proxy.
 */
import type { KubeObject } from '../types.ts';
import type { MeshContext } from './context.ts';
import { gatewayInbound } from './gateway.ts';
import { proxyContainer, majorMinor } from '../../harness/facts.ts';
import {
  imageTag,
  isGatewayPod,
  isReady,
  labelsOf,
  mapSelects,
  podIp,
  spec,
  stringMap,
} from './k8s.ts';
import type { Peer } from './network-policy.ts';
import { connectionAllowed } from './network-policy.ts';
import type { Address, Payload, Reply } from './wire.ts';
import { externalServe, resolveTargetPort, servicePorts, targetAt } from './world.ts';

function allowed(ctx: MeshContext, from: KubeObject, to: Peer, port: number): boolean {
  if (ctx.fault('netpol-not-enforced')) return true;
  return connectionAllowed(ctx.view, { kind: 'pod', pod: from }, to, port, 'TCP');
}

function deliverToPod(
  ctx: MeshContext,
  from: KubeObject,
  sourcePort: number,
  pod: KubeObject,
  port: number,
  payload: Payload,
): Reply {
  if (!allowed(ctx, from, { kind: 'pod', pod }, port)) return { kind: 'timeout' };
  if (isGatewayPod(pod)) {
    // The `skew-breaks-old-proxies` fault: an old sidecar cannot talk to a newer gateway
    // (OLD_PROXY_THROUGH_NEW_GATEWAY_FAILURE, istio/istio#22842): its connections fail.
    if (ctx.fault('skew-breaks-old-proxies') && olderProxy(from, pod)) return { kind: 'refused' };
    // A curl process that keeps this connection open stays pinned to this pod (curl-connections.ts).
    ctx.connections?.noteGateway(pod);
    return gatewayInbound(ctx, pod, port, payload, {
      remote: { ip: podIp(from), port: sourcePort },
      local: { ip: podIp(pod), port },
    });
  }
  // Client workloads (curl sleeping) listen on nothing the suites reach.
  return { kind: 'refused' };
}

function proxyMinor(pod: KubeObject): number | undefined {
  const proxy = proxyContainer(pod as Parameters<typeof proxyContainer>[0]) as
    Record<string, unknown> | undefined;
  const version = imageTag(proxy);
  return version === undefined ? undefined : majorMinor(version)?.minor;
}

/** Whether `client` runs a proxy of an older minor version than `gateway`. */
function olderProxy(client: KubeObject, gateway: KubeObject): boolean {
  const clientMinor = proxyMinor(client);
  const gatewayMinor = proxyMinor(gateway);
  return clientMinor !== undefined && gatewayMinor !== undefined && clientMinor < gatewayMinor;
}

/**
 * Opens a connection from `from` (source port `sourcePort`) to `dst` and sends `payload`:
 * what the far end replies, or `timeout` when the packets are dropped.
 */
export function connect(
  ctx: MeshContext,
  from: KubeObject,
  sourcePort: number,
  dst: Address,
  payload: Payload,
): Reply {
  const target = targetAt(ctx.view, ctx.externalHosts, dst.ip);
  switch (target.kind) {
    case 'loopback':
      return { kind: 'refused' };
    case 'nothing':
      return { kind: 'timeout' };
    case 'external':
      if (!allowed(ctx, from, { kind: 'ip', ip: dst.ip }, dst.port)) return { kind: 'timeout' };
      ctx.connections?.noteExternal(target.host, dst.port);
      return externalServe(target.host, dst.port, payload, ctx.now);
    case 'pod':
      return deliverToPod(ctx, from, sourcePort, target.pod, dst.port, payload);
    case 'service': {
      const port = servicePorts(target.service).find((candidate) => candidate.port === dst.port);
      // No rule for an undeclared port: the packet to the virtual IP goes nowhere.
      if (!port) return { kind: 'timeout' };
      const selector = stringMap(spec(target.service).selector);
      const endpoint = ctx.view
        .list('Pod', target.service.metadata.namespace)
        .filter(
          (pod) =>
            Object.keys(selector).length > 0 && isReady(pod) && mapSelects(selector, labelsOf(pod)),
        )
        .find((pod) => resolveTargetPort(pod, port.targetPort) !== undefined);
      // kube-proxy rejects connections to a Service without endpoints.
      if (!endpoint) return { kind: 'refused' };
      const targetPort = resolveTargetPort(endpoint, port.targetPort) ?? dst.port;
      return deliverToPod(ctx, from, sourcePort, endpoint, targetPort, payload);
    }
  }
}
