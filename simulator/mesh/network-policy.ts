/**
 * Kubernetes NetworkPolicy as an enforcing CNI (kindnet since v0.24) applies it: a pod
 * selected by a policy of a given direction is isolated in that direction, and then a
 * connection passes only if some rule of some such policy allows the peer and port.
 */
import type { ClusterView, KubeObject } from '../types.ts';
import {
  array,
  integer,
  ipInCidr,
  labelSelectorMatches,
  labelsOf,
  namespaceLabels,
  namespaceOf,
  podIp,
  record,
  spec,
  strings,
  text,
} from './k8s.ts';
import { resolveTargetPort } from './world.ts';

/** One end of a connection: a pod, or an address outside the pod network. */
export type Peer = { kind: 'pod'; pod: KubeObject } | { kind: 'ip'; ip: string };

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

/** Labels CoreDNS pods carry; they exist in every cluster even if the view omits them. */
export const KUBE_DNS_LABELS = { 'k8s-app': 'kube-dns' };
export const KUBE_DNS_NAMESPACE = 'kube-system';

function appliesTo(policy: KubeObject, direction: 'Ingress' | 'Egress'): boolean {
  const types = strings(spec(policy).policyTypes);
  if (types.length > 0) return types.includes(direction);
  // Without policyTypes, Ingress always applies and Egress only when egress rules exist.
  return direction === 'Ingress' || Array.isArray(spec(policy).egress);
}

function selecting(
  view: ClusterView,
  pod: KubeObject,
  direction: 'Ingress' | 'Egress',
): KubeObject[] {
  return view
    .list('NetworkPolicy', namespaceOf(pod))
    .filter(
      (policy) =>
        appliesTo(policy, direction) &&
        labelSelectorMatches(spec(policy).podSelector, labelsOf(pod)),
    );
}

function peerMatches(
  view: ClusterView,
  policy: KubeObject,
  rulePeer: unknown,
  peer: Peer,
): boolean {
  const entry = record(rulePeer);
  if (entry.ipBlock !== undefined) {
    const block = record(entry.ipBlock);
    const ip = peer.kind === 'ip' ? peer.ip : podIp(peer.pod);
    const cidr = text(block.cidr);
    if (!cidr || !ipInCidr(ip, cidr)) return false;
    return !strings(block.except).some((except) => ipInCidr(ip, except));
  }
  if (peer.kind !== 'pod') return false;
  const hasNamespaceSelector = entry.namespaceSelector !== undefined;
  const hasPodSelector = entry.podSelector !== undefined;
  if (!hasNamespaceSelector && !hasPodSelector) return false;
  const peerNamespace = namespaceOf(peer.pod);
  if (hasNamespaceSelector) {
    if (!labelSelectorMatches(entry.namespaceSelector, namespaceLabels(view, peerNamespace)))
      return false;
  } else if (peerNamespace !== namespaceOf(policy)) {
    // A podSelector alone selects pods in the policy's own namespace.
    return false;
  }
  return !hasPodSelector || labelSelectorMatches(entry.podSelector, labelsOf(peer.pod));
}

function portMatches(
  rulePorts: unknown,
  port: number,
  protocol: Protocol,
  portOwner: Peer,
): boolean {
  const ports = array(rulePorts);
  if (ports.length === 0) return true;
  return ports.some((raw) => {
    const entry = record(raw);
    if ((text(entry.protocol) ?? 'TCP') !== protocol) return false;
    if (entry.port === undefined) return true;
    const named = text(entry.port);
    const start =
      named !== undefined && !/^\d+$/.test(named)
        ? portOwner.kind === 'pod'
          ? resolveTargetPort(portOwner.pod, named)
          : undefined
        : integer(entry.port);
    if (start === undefined) return false;
    const end = integer(entry.endPort) ?? start;
    return port >= start && port <= end;
  });
}

function ruleAllows(
  view: ClusterView,
  policy: KubeObject,
  rule: unknown,
  peerField: 'to' | 'from',
  peer: Peer,
  port: number,
  protocol: Protocol,
  portOwner: Peer,
): boolean {
  const entry = record(rule);
  if (!portMatches(entry.ports, port, protocol, portOwner)) return false;
  const peers = array(entry[peerField]);
  return (
    peers.length === 0 || peers.some((candidate) => peerMatches(view, policy, candidate, peer))
  );
}

/** Whether `from` may open a connection to `to` on `port`/`protocol` under the policies in the view. */
export function connectionAllowed(
  view: ClusterView,
  from: Peer,
  to: Peer,
  port: number,
  protocol: Protocol = 'TCP',
): boolean {
  if (from.kind === 'pod') {
    const egress = selecting(view, from.pod, 'Egress');
    if (
      egress.length > 0 &&
      !egress.some((policy) =>
        array(spec(policy).egress).some((rule) =>
          ruleAllows(view, policy, rule, 'to', to, port, protocol, to),
        ),
      )
    ) {
      return false;
    }
  }
  if (to.kind === 'pod') {
    const ingress = selecting(view, to.pod, 'Ingress');
    if (
      ingress.length > 0 &&
      !ingress.some((policy) =>
        array(spec(policy).ingress).some((rule) =>
          ruleAllows(view, policy, rule, 'from', from, port, protocol, to),
        ),
      )
    ) {
      return false;
    }
  }
  return true;
}

/** The CoreDNS pod: from the view if present, else the one every cluster has. */
function kubeDnsPod(view: ClusterView): KubeObject {
  const present = view
    .list('Pod', KUBE_DNS_NAMESPACE)
    .find((pod) => labelsOf(pod)['k8s-app'] === KUBE_DNS_LABELS['k8s-app']);
  return (
    present ?? {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'coredns', namespace: KUBE_DNS_NAMESPACE, labels: { ...KUBE_DNS_LABELS } },
      spec: {
        containers: [
          { name: 'coredns', ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }] },
        ],
      },
      status: { podIP: '10.244.0.3' },
    }
  );
}

/** Whether the pod's DNS queries (UDP 53 to CoreDNS in kube-system) get through. */
export function dnsAllowed(view: ClusterView, pod: KubeObject): boolean {
  return connectionAllowed(
    view,
    { kind: 'pod', pod },
    { kind: 'pod', pod: kubeDnsPod(view) },
    53,
    'UDP',
  );
}
