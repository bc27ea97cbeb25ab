/**
 * `--cluster existing`: a cluster someone else owns, typically the platform team's
 * acceptance gate. The run attaches through a kubeconfig, detects the installed Istio,
 * and never installs, upgrades or removes anything cluster-wide: the suites create only
 * run-labelled namespaces and restore every label they borrow.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { EnvironmentError } from '../errors.ts';
import { namedHosts } from '../external/host.ts';
import { internetHosts } from '../external/internet.ts';
import { detectIstio } from '../istio/detect.ts';
import { type Kube, checkReachable, connect } from '../k8s/client.ts';
import { checkAccess, checkNodeVersion } from '../preflight.ts';
import type { TimeoutConfig } from '../timeouts.ts';
import type {
  ClusterProvider,
  ClusterTarget,
  ExternalHost,
  ExternalMode,
  IstioInstallation,
} from './types.ts';

/** Options of {@link createExistingProvider}. */
export interface ExistingProviderOptions {
  runId: string;
  runDir: string;
  /** `--kubeconfig`; else the first file of `KUBECONFIG`, else `~/.kube/config`. */
  kubeconfigPath?: string;
  /** `--context`; else the kubeconfig's current context. */
  context?: string;
  /** `--existing-cluster-ok`: without it the run refuses to start. */
  existingClusterOk: boolean;
  /** `--external`: `host:<name>` (the default, and it needs the name) or `internet`. */
  external?: { mode: ExternalMode; hostName?: string };
  /** Selects the egress gateway pods; `istio=egressgateway` unless told. */
  gatewaySelector?: { key: string; value: string };
  /** The Istio revision to use when several are installed. */
  revision?: string;
  timeouts: TimeoutConfig;
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** What the run does to a cluster it does not own, said in the refusal. */
export const EXISTING_CLUSTER_EFFECTS =
  'the run creates namespaces and runs pods there, applies Istio networking config and a NetworkPolicy in them, and temporarily labels istio-system and kube-system (restoring the labels afterwards)';

/** Creates the provider for a cluster the harness does not own. */
export function createExistingProvider({
  kubeconfigPath,
  context,
  existingClusterOk,
  external,
  gatewaySelector,
  revision,
  timeouts,
  log = () => {},
  env = process.env,
}: ExistingProviderOptions): ClusterProvider {
  const path = resolveKubeconfigPath(kubeconfigPath, env);
  let attached: { kube: Kube; kubernetesVersion: string; istio: IstioInstallation } | undefined;

  const attach = async (): Promise<{
    kube: Kube;
    kubernetesVersion: string;
    istio: IstioInstallation;
  }> => {
    if (!existingClusterOk) throw refusal(path, context);
    checkNodeVersion();
    externalHostsFor(external, []);
    const kube = connect({ kubeconfigPath: path, ...(context ? { context } : {}), timeouts });
    const kubernetesVersion = await checkReachable(kube);
    await checkAccess(kube);
    const istio = await detectIstio(kube, {
      ...(revision ? { revision } : {}),
      ...(gatewaySelector ? { gatewaySelector } : {}),
      log,
    });
    log(
      `existing cluster ${kube.server} (Kubernetes ${kubernetesVersion}): Istio ${istio.version} revision ${istio.revision}, egress gateway ${istio.gateway.namespace}/${istio.gateway.serviceName}`,
    );
    if (!istio.accessLog.enabled) {
      log(
        "access logging does not reach the egress gateway's container log (neither meshConfig.accessLogFile nor a Telemetry resource sends its entries to /dev/stdout): the gateway evidence the suites need will be missing",
      );
    }
    return { kube, kubernetesVersion, istio };
  };

  return {
    kind: 'existing',

    async preflight() {
      attached = await attach();
    },

    async provision({ suites, progress }): Promise<ClusterTarget> {
      attached ??= await attach();
      progress('existing cluster', 'start', attached.kube.server);
      const cni = await detectCni(attached.kube);
      progress('existing cluster', 'done', `CNI ${cni}`);
      return {
        kind: 'existing',
        simulated: false,
        kubeconfigPath: path,
        ...(context ? { context } : {}),
        kubernetesVersion: attached.kubernetesVersion,
        cni,
        istio: attached.istio,
        externalHosts: externalHostsFor(external, suites),
      };
    },

    async release() {
      // Nothing cluster-wide was created: the suites delete their namespaces and restore labels.
    },
  };
}

/** `--kubeconfig`, else the first existing file listed in `KUBECONFIG`, else `~/.kube/config`. */
export function resolveKubeconfigPath(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (explicit) return resolve(explicit);
  const listed = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  // client-node reads one file; kubectl would merge the list, so the first existing one wins here.
  const first = listed.find((file) => existsSync(file)) ?? listed[0];
  return resolve(first ?? join(homedir(), '.kube', 'config'));
}

function refusal(path: string, context: string | undefined): EnvironmentError {
  let target = `the cluster of ${context ? `context "${context}"` : 'the current context'} in ${path}`;
  try {
    const kube = connect({ kubeconfigPath: path, ...(context ? { context } : {}) });
    target = `the existing cluster ${kube.config.getCurrentContext()} (${kube.server})`;
  } catch {
    // The refusal stands even when the kubeconfig cannot be read; it only names less.
  }
  return new EnvironmentError(
    `Refusing to run against ${target} without --existing-cluster-ok, because ${EXISTING_CLUSTER_EFFECTS}; pass --existing-cluster-ok if that is acceptable there.`,
  );
}

function externalHostsFor(
  external: ExistingProviderOptions['external'],
  suites: readonly string[],
): Record<string, ExternalHost> {
  if (external?.mode === 'internet') return internetHosts(suites);
  if (external?.mode === 'local') {
    throw new EnvironmentError(
      '--external local needs a kind cluster the harness owns (it adds a CoreDNS entry and runs a container on the kind network); on an existing cluster pass --external host:<dns-name> or --external internet.',
    );
  }
  return namedHosts(suites, external?.hostName ?? '');
}

/** Names the CNI from the DaemonSets it runs in kube-system (or calico-system); `unknown` otherwise. */
export async function detectCni(kube: Kube): Promise<string> {
  const known: [RegExp, string][] = [
    [/^kindnet/, 'kindnet'],
    [/^calico-node$/, 'calico'],
    [/^cilium$/, 'cilium'],
    [/^aws-node$/, 'aws-vpc-cni'],
    [/^kube-flannel/, 'flannel'],
    [/^weave-net$/, 'weave'],
    [/^antrea-agent$/, 'antrea'],
  ];
  for (const namespace of ['kube-system', 'calico-system']) {
    try {
      const daemonSets = await kube.apps.listNamespacedDaemonSet({ namespace });
      for (const daemonSet of daemonSets.items) {
        const match = known.find(([pattern]) => pattern.test(daemonSet.metadata?.name ?? ''));
        if (match) return match[1];
      }
    } catch {
      // Best effort: without permission (or the namespace) the CNI simply stays unknown.
    }
  }
  return 'unknown';
}
