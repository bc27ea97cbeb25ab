/** What `kind create cluster` leaves behind, so the harness finds a familiar cluster. */
import { rfc3339 } from '../json.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { CONTROLLER_DEFAULTS } from './context.ts';

/** Knobs of `seedBaseCluster`. */
export interface BaseClusterOptions {
  nodeName?: string;
  nodeIp?: string;
  kubernetesVersion?: string;
}

/**
 * Creates what a fresh kind cluster has: its node, the system namespaces, the
 * `kubernetes` service and CoreDNS (`kube-dns`, labels `k8s-app=kube-dns`) in kube-system.
 */
export function seedBaseCluster(store: ObjectStore, options: BaseClusterOptions = {}): void {
  const nodeName = options.nodeName ?? CONTROLLER_DEFAULTS.nodeName;
  const nodeIp = options.nodeIp ?? CONTROLLER_DEFAULTS.nodeIp;
  const version = options.kubernetesVersion ?? 'v1.36.1';
  const now = rfc3339(store.now());
  store.create({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: nodeName,
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': nodeName,
        'kubernetes.io/os': 'linux',
        'node-role.kubernetes.io/control-plane': '',
      },
    },
    spec: {
      podCIDR: '10.244.0.0/24',
      podCIDRs: ['10.244.0.0/24'],
      providerID: `kind://docker/egress-conformance/${nodeName}`,
    },
    status: {
      addresses: [
        { type: 'InternalIP', address: nodeIp },
        { type: 'Hostname', address: nodeName },
      ],
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      nodeInfo: {
        architecture: 'amd64',
        containerRuntimeVersion: 'containerd://2.1.4',
        kernelVersion: '6.8.0',
        kubeProxyVersion: version,
        kubeletVersion: version,
        operatingSystem: 'linux',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
      },
    },
  });
  for (const name of [
    'default',
    'kube-system',
    'kube-public',
    'kube-node-lease',
    'local-path-storage',
  ]) {
    store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  store.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { component: 'apiserver', provider: 'kubernetes' },
    },
    spec: {
      clusterIP: '10.96.0.1',
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
    },
  });
  const dnsLabels = { 'k8s-app': 'kube-dns' };
  store.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'kube-dns',
      namespace: 'kube-system',
      labels: {
        ...dnsLabels,
        'kubernetes.io/cluster-service': 'true',
        'kubernetes.io/name': 'CoreDNS',
      },
    },
    spec: {
      clusterIP: '10.96.0.10',
      selector: dnsLabels,
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
      ],
    },
  });
  store.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'coredns', namespace: 'kube-system', labels: dnsLabels },
    spec: {
      replicas: 2,
      selector: { matchLabels: dnsLabels },
      template: {
        metadata: { labels: dnsLabels },
        spec: {
          serviceAccountName: 'coredns',
          containers: [
            {
              name: 'coredns',
              image: 'registry.k8s.io/coredns/coredns:v1.12.1',
              args: ['-conf', '/etc/coredns/Corefile'],
              ports: [
                { containerPort: 53, name: 'dns', protocol: 'UDP' },
                { containerPort: 53, name: 'dns-tcp', protocol: 'TCP' },
                { containerPort: 9153, name: 'metrics', protocol: 'TCP' },
              ],
            },
          ],
        },
      },
    },
  });
  store.create({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'coredns', namespace: 'kube-system' },
  });
}
