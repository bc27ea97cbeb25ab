/**
 * What the stand-in `kind` and its daemon share: the shape of a fresh kind cluster
 * (kubeconfig names, CoreDNS Corefile) and the simulated world's external hosts.
 */
import YAML from 'yaml';
import type { SimExternalHost } from '../types.ts';

/** kubeadm's default Corefile, which kind clusters start with. */
export const KIND_COREFILE = `.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
`;

/**
 * The simulated world's external hosts: `EGRESS_SIM_WORLD_HOSTS` (comma list), else the
 * documentation's `edition.cnn.com`. They answer like public sites (publicly trusted
 * certificate, `301` to HTTPS on port 80), since a stand-in cluster cannot run the local
 * host's container.
 */
export function worldHostsFromEnv(env: NodeJS.ProcessEnv): SimExternalHost[] {
  const names = (env.EGRESS_SIM_WORLD_HOSTS ?? 'edition.cnn.com')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  return names.map((name, index) => ({
    name,
    mode: 'internet',
    subjectCN: name,
    issuerCN: 'Simulated Public Root CA',
    // TEST-NET-2 (RFC 5737): addresses that can never be real.
    address: `198.51.100.${10 + index}`,
  }));
}

/** Renames the simulated kubeconfig's cluster, user and context to kind's `kind-<name>`. */
export function asKindKubeconfig(kubeconfig: string, clusterName: string): string {
  const config = YAML.parse(kubeconfig) as {
    clusters: { name: string }[];
    users: { name: string }[];
    contexts: { name: string; context: { cluster: string; user: string } }[];
    'current-context': string;
  };
  const name = `kind-${clusterName}`;
  for (const entry of [...config.clusters, ...config.users, ...config.contexts]) entry.name = name;
  for (const entry of config.contexts) entry.context = { cluster: name, user: name };
  config['current-context'] = name;
  return YAML.stringify(config);
}
