/**
 * Name resolution for the local external hosts: a server block for their made-up zone
 * appended to CoreDNS's Corefile (kube-system ConfigMap `coredns`), between markers so
 * that it can be replaced or removed exactly. Only on a kind cluster the harness owns;
 * on existing clusters nothing cluster-wide is changed.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import { type Kube, apiFailure, errorText } from '../k8s/client.ts';
import { pollUntil } from '../wait.ts';
import { restartDeployment } from '../k8s/workloads.ts';

/** Where CoreDNS's configuration lives in kind (and kubeadm) clusters. */
export const COREDNS = Object.freeze({
  namespace: 'kube-system',
  configMap: 'coredns',
  deployment: 'coredns',
  key: 'Corefile',
});

const BEGIN = '# egress-conformance begin: local external hosts (removed when the run ends)';
const END = '# egress-conformance end';

/** One name and the address it resolves to. */
export interface HostEntry {
  name: string;
  address: string;
}

/**
 * The Corefile with a `hosts` server block for `zone` holding `entries`, replacing any
 * block an earlier run left. A separate server block leaves the cluster's own `.:53`
 * block untouched, and CoreDNS routes queries to the most specific zone.
 */
export function withHostsBlock(
  corefile: string,
  zone: string,
  entries: readonly HostEntry[],
): string {
  const lines = [
    BEGIN,
    `${zone}:53 {`,
    '    hosts {',
    ...entries.map((entry) => `        ${entry.address} ${entry.name}`),
    '    }',
    '}',
    END,
  ];
  return `${withoutHostsBlock(corefile).replace(/\s*$/, '\n')}${lines.join('\n')}\n`;
}

/** The Corefile without the block {@link withHostsBlock} added (unchanged when there is none). */
export function withoutHostsBlock(corefile: string): string {
  const begin = corefile.indexOf(BEGIN);
  if (begin === -1) return corefile;
  const end = corefile.indexOf(END, begin);
  const after = end === -1 ? corefile.length : end + END.length;
  return `${corefile.slice(0, begin).replace(/\s*$/, '\n')}${corefile.slice(after).replace(/^\s*\n/, '')}`;
}

/**
 * Writes the hosts block into the CoreDNS ConfigMap and restarts CoreDNS so that the
 * names resolve at once, instead of after the kubelet's ConfigMap sync plus the
 * `reload` plugin's interval (a minute or more).
 */
export async function addDnsEntries(
  kube: Kube,
  { zone, entries, timeoutMs }: { zone: string; entries: readonly HostEntry[]; timeoutMs: number },
): Promise<void> {
  await updateCorefile(kube, (corefile) => withHostsBlock(corefile, zone, entries));
  await restartCoreDns(kube, timeoutMs);
}

/** Removes the hosts block again; no restart, the `reload` plugin picks the change up. */
export async function removeDnsEntries(kube: Kube): Promise<void> {
  await updateCorefile(kube, withoutHostsBlock);
}

async function updateCorefile(kube: Kube, change: (corefile: string) => string): Promise<void> {
  const { namespace, configMap: name, key } = COREDNS;
  // Read-modify-replace with the resourceVersion: a concurrent edit makes it retry, not clobber.
  for (let attempt = 1; ; attempt += 1) {
    try {
      const current = await kube.core.readNamespacedConfigMap({ namespace, name });
      const corefile = current.data?.[key];
      if (corefile === undefined) {
        throw new Error(`ConfigMap ${namespace}/${name} has no ${key} key`);
      }
      const next = change(corefile);
      if (next === corefile) return;
      await kube.core.replaceNamespacedConfigMap({
        namespace,
        name,
        body: { ...current, data: { ...current.data, [key]: next } },
      });
      return;
    } catch (error) {
      if (apiFailure(error)?.code === 409 && attempt < 5) continue;
      throw new Error(
        `Updating the CoreDNS Corefile (${namespace}/${name}) failed: ${errorText(error)}`,
        { cause: error },
      );
    }
  }
}

async function restartCoreDns(kube: Kube, timeoutMs: number): Promise<void> {
  const { namespace, deployment: name } = COREDNS;
  await restartDeployment(kube, namespace, name, 'Restarting CoreDNS');
  await pollUntil({
    what: `the CoreDNS deployment ${namespace}/${name} to finish its restart`,
    timeoutMs,
    intervalMs: 250,
    observe: async () =>
      rolloutState(await kube.apps.readNamespacedDeployment({ namespace, name })),
    done: (state) => state.complete,
    describe: (state) => state.text,
    hint: `look at the events of the CoreDNS pods in ${namespace}`,
  });
}

/** Whether a deployment's rollout is complete, as `kubectl rollout status` judges it. */
export function rolloutState(deployment: V1Deployment): { complete: boolean; text: string } {
  const wanted = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  const observed = (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
  const updated = status.updatedReplicas ?? 0;
  const total = status.replicas ?? 0;
  const available = status.availableReplicas ?? 0;
  return {
    complete: observed && updated >= wanted && total === updated && available >= wanted,
    text: `generation observed: ${observed}, ${updated}/${wanted} updated, ${total} total, ${available} available`,
  };
}
