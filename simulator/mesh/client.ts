/**
 * The client side shared by curl and openssl in a pod: resolving a name as the pod's
 * resolver would (`--resolve` overrides, then CoreDNS if NetworkPolicy lets DNS
 * through), and opening a connection through the pod's sidecar when it has one.
 */
import type { KubeObject } from '../types.ts';
import type { MeshContext } from './context.ts';
import { hasIstioProxy, isIpLiteral, namespaceOf } from './k8s.ts';
import { sidecarReachesIstiod } from './control-plane.ts';
import { connect } from './network.ts';
import { dnsAllowed } from './network-policy.ts';
import { sidecarCaptures, sidecarOutbound } from './sidecar.ts';
import type { Address, Payload, Reply } from './wire.ts';
import { resolveName } from './world.ts';

/** The outcome of resolving a name from a pod. */
export type Resolution = { ok: true; ip: string } | { ok: false };

/** Finds the `--resolve host:port:addr` entry for host and port, if any. */
export function resolveOverride(entries: string[], host: string, port: number): string | undefined {
  for (const entry of entries) {
    const match = /^(\+?)([^:]+|\[[^\]]+\]):(\d+):(.+)$/.exec(entry);
    if (!match) continue;
    const [, , entryHost = '', entryPort = '', addresses = ''] = match;
    if (
      (entryHost.toLowerCase() === host.toLowerCase() || entryHost === '*') &&
      Number(entryPort) === port
    ) {
      const first = addresses.split(',')[0]?.trim() ?? '';
      return first.replace(/^\[|\]$/g, '');
    }
  }
  return undefined;
}

/**
 * Applies `--connect-to HOST1:PORT1:HOST2:PORT2` (empty parts match anything / keep the
 * original): where curl actually connects for a URL's host and port.
 */
export function connectToOverride(
  entries: string[],
  host: string,
  port: number,
): { host: string; port: number } | undefined {
  for (const entry of entries) {
    const parts = /^(\[[^\]]*\]|[^:]*):(\d*):(\[[^\]]*\]|[^:]*):(\d*)$/.exec(entry);
    if (!parts) continue;
    const [, fromHost = '', fromPort = '', toHost = '', toPort = ''] = parts;
    const bare = (value: string): string => value.replace(/^\[|\]$/g, '');
    if (fromHost && bare(fromHost).toLowerCase() !== host.toLowerCase()) continue;
    if (fromPort && Number(fromPort) !== port) continue;
    return { host: toHost ? bare(toHost) : host, port: toPort ? Number(toPort) : port };
  }
  return undefined;
}

/** Resolves `host` as a process in the pod would. */
export function resolveFromPod(ctx: MeshContext, pod: KubeObject, host: string): Resolution {
  if (isIpLiteral(host)) return { ok: true, ip: host };
  if (host === 'localhost') return { ok: true, ip: '127.0.0.1' };
  if (!ctx.fault('netpol-not-enforced') && !dnsAllowed(ctx.view, pod)) return { ok: false };
  const ip = resolveName(ctx.view, ctx.externalHosts, host, namespaceOf(pod));
  return ip ? { ok: true, ip } : { ok: false };
}

/** A connection opened by a process in `container`, and whether the sidecar took it. */
export interface ClientConnection {
  reply: Reply;
  /**
   * True when iptables redirected it to the sidecar: the TCP connect itself succeeds, unless
   * the sidecar has no configuration (cut off from istiod, control-plane.ts).
   */
  viaSidecar: boolean;
  localPort: number;
}

/** Opens a connection from a process in the pod and sends `payload`. */
export function openFromPod(
  ctx: MeshContext,
  pod: KubeObject,
  container: string,
  dst: Address,
  payload: Payload,
): ClientConnection {
  const localPort = ctx.state.nextPort();
  // The proxy's own container runs as the UID iptables exempts from capture.
  const viaSidecar = hasIstioProxy(pod) && container !== 'istio-proxy' && sidecarCaptures(pod, dst);
  // A sidecar cut off from istiod has no outbound listener: nothing accepts on port 15001.
  const reply = viaSidecar
    ? sidecarReachesIstiod(ctx, pod)
      ? sidecarOutbound(ctx, pod, dst, payload, localPort)
      : { kind: 'refused' as const }
    : connect(ctx, pod, localPort, dst, payload);
  return { reply, viaSidecar, localPort };
}
