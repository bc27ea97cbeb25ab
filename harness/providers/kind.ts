/**
 * `--cluster kind` (the default): creates a kind cluster whose default CNI (kindnet)
 * enforces NetworkPolicy, installs Istio with the egress gateway, starts the external
 * hosts, and deletes everything again unless told to keep it, also after a failure or
 * Ctrl-C. The kubeconfig lives in the run directory, never in `~/.kube/config`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  type ReleaseBaseUrls,
  type ResolvedTool,
  compareVersions,
  resolveTool,
  runTool,
  ToolFailedError,
} from '../binaries.ts';
import { missingGatewayApiKinds } from '../api-selection.ts';
import { EnvironmentError } from '../errors.ts';
import { namedHosts, validateHostName } from '../external/host.ts';
import { internetHosts } from '../external/internet.ts';
import { type LocalExternalHosts, startLocalExternalHosts } from '../external/local.ts';
import { installGatewayApiCrds } from '../gateway-api-install.ts';
import { UnreadableAccessLogError } from '../istio/access-log-settings.ts';
import { detectIstio } from '../istio/detect.ts';
import { installIstio } from '../istio/install.ts';
import type { OverlayOptions } from '../istio/overlay.ts';
import { type Kube, checkReachable, connect } from '../k8s/client.ts';
import {
  checkContainerEngine,
  checkNodeVersion,
  inotifyWarning,
  readInotifyLimits,
} from '../preflight.ts';
import type { TimeoutConfig } from '../timeouts.ts';
import {
  GATEWAY_API_VERSION,
  ISTIO_DEFAULT_VERSION,
  ISTIO_SUPPORTED_VERSIONS,
  KIND_MINIMUM_FOR_NETWORK_POLICY,
  KIND_NODE_IMAGE,
  KIND_VERSION,
} from '../versions.ts';
import type {
  ClusterProvider,
  ClusterTarget,
  ExternalHost,
  ExternalMode,
  IstioInstallation,
  Progress,
} from './types.ts';

/** Options of {@link createKindProvider}; defaults come from versions.json. */
export interface KindProviderOptions {
  runId: string;
  /** Holds the kubeconfig, the kind config and the Istio overlay. */
  runDir: string;
  clusterName?: string;
  /** `--kind-node-image`; the digest-pinned image of versions.json unless told. */
  nodeImage?: string;
  /** `--reuse-cluster`: attach to an existing kind cluster of that name; it is never deleted. */
  reuse?: boolean;
  /** `--keep-cluster`: leave the created cluster running after the run. */
  keep?: boolean;
  istioVersion?: string;
  /** `--kind`. */
  kindPath?: string;
  /** `--istioctl`: its own version is what gets installed. */
  istioctlPath?: string;
  /** Egress gateway replicas (an upgrade run asks for 2, with the gateway's PodDisruptionBudget). */
  gatewayReplicas?: number;
  /** Cache of downloaded binaries. */
  cacheDir?: string;
  /** Release download locations (tests serve them locally). */
  downloadBaseUrls?: Partial<ReleaseBaseUrls>;
  /** Install the Gateway API CRDs before Istio (the run selects the gateway-api variant). */
  gatewayApi?: boolean;
  /** Where the Gateway API release is downloaded from (tests serve it locally). */
  gatewayApiBaseUrl?: string;
  /** `--external`; `local` unless told. */
  external?: { mode: ExternalMode; hostName?: string };
  outboundTrafficPolicy?: OverlayOptions['outboundTrafficPolicy'];
  timeouts: TimeoutConfig;
  log?: (line: string) => void;
  /** Environment of the tools (PATH, DOCKER_HOST, KIND_EXPERIMENTAL_PROVIDER). */
  env?: NodeJS.ProcessEnv;
  /** Aborting it (Ctrl-C) terminates a running `kind create` or `istioctl install`. */
  signal?: AbortSignal;
}

/** The default `--cluster-name`. */
export const DEFAULT_KIND_CLUSTER_NAME = 'egress-conformance';

/** The kind `Cluster` config (v1alpha4) a run creates its cluster from. */
export function renderKindConfig({ name, nodeImage }: { name: string; nodeImage: string }): string {
  const config = {
    kind: 'Cluster',
    apiVersion: 'kind.x-k8s.io/v1alpha4',
    name,
    // kindnet, kind's default CNI, enforces NetworkPolicy since kind v0.24.0; the network-policy suite needs it.
    networking: { disableDefaultCNI: false },
    nodes: [{ role: 'control-plane', image: nodeImage }],
  };
  return `# Written by egress-conformance for \`kind create cluster --config\`.\n${stringify(config)}`;
}

/** Creates the kind provider. */
export function createKindProvider({
  runId,
  runDir,
  clusterName = DEFAULT_KIND_CLUSTER_NAME,
  nodeImage = KIND_NODE_IMAGE,
  reuse = false,
  keep = false,
  istioVersion = ISTIO_DEFAULT_VERSION,
  kindPath,
  istioctlPath,
  gatewayReplicas,
  cacheDir,
  downloadBaseUrls,
  gatewayApi = false,
  gatewayApiBaseUrl,
  external = { mode: 'local' },
  outboundTrafficPolicy = 'ALLOW_ANY',
  timeouts,
  log = () => {},
  env = process.env,
  signal,
}: KindProviderOptions): ClusterProvider {
  const kubeconfigPath = join(runDir, 'kubeconfig');
  // Aborted by release() and by `signal`, so a cleanup never waits behind a slow create.
  const inflight = new AbortController();
  signal?.addEventListener('abort', () => inflight.abort(), { once: true });
  let tools: { kind: ResolvedTool; istioctl: ResolvedTool } | undefined;
  let created = false;
  let deleted = false;
  let localHosts: LocalExternalHosts | undefined;
  let releasing: Promise<void> | undefined;

  // One options object per kind command; only the final delete escapes the cancellation.
  const kind = ({
    args,
    fix,
    timeoutMs,
    cleanup = false,
    onLine,
  }: {
    args: string[];
    fix: string;
    timeoutMs: number;
    /** The delete: not cancellable, and in its own process group so Ctrl-C cannot stop it. */
    cleanup?: boolean;
    onLine?: (line: string) => void;
  }) =>
    runTool({
      path: tools!.kind.path,
      args,
      what: `kind ${args.slice(0, 2).join(' ')}`,
      fix,
      timeoutMs,
      env,
      detached: cleanup,
      ...(cleanup ? {} : { cancelSignal: inflight.signal }),
      ...(onLine ? { onLine } : {}),
    });

  const listClusters = async (): Promise<string[]> => {
    const { stdout } = await kind({
      args: ['get', 'clusters'],
      fix: 'check that Docker is running',
      timeoutMs: 60_000,
    });
    // "No kind clusters found." goes to stderr; stdout holds one name per line.
    return stdout
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter(Boolean);
  };

  const preflight = async (): Promise<void> => {
    checkNodeVersion();
    // First, because it answers in milliseconds: a machine without an engine must not wait for a download.
    await checkContainerEngine({ env });
    if (external.mode === 'host') validateHostName(external.hostName);
    const warning = inotifyWarning(await readInotifyLimits());
    if (warning) log(`warning: ${warning}`);
    if (!ISTIO_SUPPORTED_VERSIONS.includes(istioVersion)) {
      log(
        `warning: Istio ${istioVersion} is not one of the tested versions (${ISTIO_SUPPORTED_VERSIONS.join(', ')})`,
      );
    }
    if (!/@sha256:[0-9a-f]{64}$/.test(nodeImage)) {
      log(
        `warning: the kind node image ${nodeImage} is not pinned by digest, so reruns may get a different image`,
      );
    }
    const common = {
      env,
      log,
      ...(cacheDir ? { cacheDir } : {}),
      ...(downloadBaseUrls ? { baseUrls: downloadBaseUrls } : {}),
    };
    const [kindTool, istioctlTool] = await Promise.all([
      resolveTool({
        tool: 'kind',
        version: KIND_VERSION,
        ...(kindPath ? { explicitPath: kindPath } : {}),
        ...common,
      }),
      resolveTool({
        tool: 'istioctl',
        version: istioVersion,
        ...(istioctlPath ? { explicitPath: istioctlPath } : {}),
        ...common,
      }),
    ]);
    if (compareVersions(kindTool.version, KIND_MINIMUM_FOR_NETWORK_POLICY) < 0) {
      throw new EnvironmentError(
        `kind ${kindTool.version} (${kindTool.path}) is older than ${KIND_MINIMUM_FOR_NETWORK_POLICY}, whose default CNI is the first to enforce NetworkPolicy; use kind ${KIND_VERSION} (drop --kind to download it).`,
      );
    }
    if (istioctlTool.version !== istioVersion) {
      log(
        `note: ${istioctlTool.path} is istioctl ${istioctlTool.version}, so Istio ${istioctlTool.version} is installed, not ${istioVersion}`,
      );
    }
    tools = { kind: kindTool, istioctl: istioctlTool };
    const exists = (await listClusters()).includes(clusterName);
    if (reuse && !exists) {
      throw new EnvironmentError(
        `There is no kind cluster named ${clusterName} to reuse; drop --reuse-cluster to create it, or pass the --cluster-name of an existing one (\`kind get clusters\`).`,
      );
    }
    if (!reuse && exists) {
      throw new EnvironmentError(
        `A kind cluster named ${clusterName} already exists and this run would not delete what it did not create; pass --reuse-cluster to use it, another --cluster-name, or delete it with \`kind delete cluster --name ${clusterName}\`.`,
      );
    }
  };

  const createOrAttach = async (progress: Progress): Promise<void> => {
    await mkdir(runDir, { recursive: true });
    if (reuse) {
      progress('kind cluster', 'start', `reusing ${clusterName}`);
      const { stdout } = await kind({
        args: ['get', 'kubeconfig', '--name', clusterName],
        fix: `check that the kind cluster ${clusterName} is running (\`docker ps\`)`,
        timeoutMs: 60_000,
      });
      await writeFile(kubeconfigPath, stdout, { mode: 0o600 });
      progress('kind cluster', 'done', `reused ${clusterName}`);
      return;
    }
    const configPath = join(runDir, 'kind-config.yaml');
    await writeFile(configPath, renderKindConfig({ name: clusterName, nodeImage }));
    progress('kind cluster', 'start', `creating ${clusterName} from ${nodeImage}`);
    // Marked before the command runs: a half-created cluster is still ours to delete.
    created = true;
    const waitSeconds = Math.max(1, Math.ceil(timeouts.clusterCreate / 1000));
    await kind({
      args: [
        'create',
        'cluster',
        '--name',
        clusterName,
        '--config',
        configPath,
        '--image',
        nodeImage,
        '--kubeconfig',
        kubeconfigPath,
        '--wait',
        `${waitSeconds}s`,
      ],
      fix: 'check that Docker has enough memory and disk and can pull the node image, or raise --timeout clusterCreate=<ms>',
      timeoutMs: timeouts.clusterCreate + 30_000,
      onLine: (line) => log(`kind: ${line}`),
    });
    progress('kind cluster', 'done', clusterName);
  };

  // Before Istio, as istio.io's Gateway API steps order it: istiod then serves the kinds from its start.
  const ensureGatewayApiCrds = async (kube: Kube, progress: Progress): Promise<void> => {
    const step = 'gateway api crds';
    if (reuse && (await missingGatewayApiKinds(kube)).length === 0) {
      progress(step, 'done', 'already served by the reused cluster');
      return;
    }
    progress(step, 'start', `Gateway API ${GATEWAY_API_VERSION} standard channel`);
    const installed = await installGatewayApiCrds({
      kube,
      version: GATEWAY_API_VERSION,
      ...(cacheDir ? { cacheDir } : {}),
      ...(gatewayApiBaseUrl ? { baseUrl: gatewayApiBaseUrl } : {}),
      timeouts,
      log,
      signal: inflight.signal,
    });
    progress(step, 'done', `${installed.crds.length} CRDs applied (${installed.source})`);
  };

  const ensureIstio = async (kube: Kube, progress: Progress): Promise<IstioInstallation> => {
    const overlay: OverlayOptions = {
      outboundTrafficPolicy,
      accessLogEncoding: 'JSON',
      ...(gatewayReplicas === undefined ? {} : { gatewayReplicas }),
    };
    if (reuse) {
      const current = await detectIstio(kube, { log }).catch((error: unknown) => {
        // A reinstall rewrites the mesh config, but not a Telemetry resource's choice of
        // logger: that stays unreadable, so say so now rather than after the install.
        if (error instanceof UnreadableAccessLogError && error.fromTelemetryResource) throw error;
        return undefined;
      });
      if (
        current &&
        current.version === tools!.istioctl.version &&
        current.accessLog.enabled &&
        current.accessLog.encoding === 'JSON' &&
        current.outboundStatsIncluded &&
        current.outboundTrafficPolicy === outboundTrafficPolicy
      ) {
        progress(
          'istio',
          'done',
          `Istio ${current.version} already installed as this run needs it`,
        );
        return current;
      }
    }
    progress('istio', 'start', `istioctl install ${tools!.istioctl.version}`);
    const installed = await installIstio({
      kube,
      istioctlPath: tools!.istioctl.path,
      kubeconfigPath,
      runDir,
      overlay,
      timeoutMs: timeouts.istioInstall,
      env,
      cancelSignal: inflight.signal,
      log,
    });
    log(`installed: ${installed.istioctlVersionOutput.replace(/\s*\n\s*/g, '; ')}`);
    progress('istio', 'done', `Istio ${installed.installation.version}`);
    return installed.installation;
  };

  const externalHosts = async (
    kube: Kube,
    suites: readonly string[],
  ): Promise<Record<string, ExternalHost>> => {
    if (external.mode === 'internet') return internetHosts(suites);
    if (external.mode === 'host') return namedHosts(suites, external.hostName ?? '');
    localHosts = await startLocalExternalHosts({
      suites,
      kube,
      runId,
      timeoutMs: timeouts.podReady,
      log,
    });
    return localHosts.hosts;
  };

  const release = async (keepNow: boolean, progress: Progress): Promise<void> => {
    inflight.abort();
    const keepCluster = keep || keepNow;
    const failures: string[] = [];
    if (localHosts) {
      const hosts = localHosts;
      localHosts = undefined;
      // A cluster that outlives the run must not keep names pointing at a stopped server.
      if (!created || keepCluster) {
        await hosts.removeDns().catch((error: unknown) => failures.push(messageOf(error)));
      }
      await hosts
        .stop()
        .catch((error: unknown) =>
          failures.push(`stopping the local external host: ${messageOf(error)}`),
        );
    }
    if (created && !deleted && !keepCluster && tools) {
      progress('kind cluster', 'start', `deleting ${clusterName}`);
      const deleteCluster = () =>
        kind({
          args: ['delete', 'cluster', '--name', clusterName, '--kubeconfig', kubeconfigPath],
          fix: `delete it by hand with \`kind delete cluster --name ${clusterName}\``,
          timeoutMs: timeouts.deletion,
          cleanup: true,
        });
      try {
        await deleteCluster().catch((error: unknown) => {
          // A signal sent to the run's whole process group (Ctrl-C, a CI runner cancelling)
          // can reach the delete between its fork and its setsid, before it leaves the group;
          // that signal is spent then, and deleting again (idempotent) finishes the cleanup.
          if (error instanceof ToolFailedError && error.killedBy) return deleteCluster();
          throw error;
        });
        deleted = true;
        progress('kind cluster', 'done', `deleted ${clusterName}`);
      } catch (error) {
        progress('kind cluster', 'failed', messageOf(error));
        failures.push(messageOf(error));
      }
    } else if (created && keepCluster && !deleted) {
      log(
        `kept kind cluster ${clusterName}; kubeconfig: ${kubeconfigPath}; delete it with \`kind delete cluster --name ${clusterName}\``,
      );
    }
    if (failures.length > 0)
      throw new Error(`Cleanup of the kind provider failed: ${failures.join('; ')}`);
  };

  return {
    kind: 'kind',
    preflight,

    // An upgrade's version B: downloaded and checksum-verified as the installed one was (or
    // taken from PATH when it reports that version), never the --istioctl of version A.
    async istioctlFor(version: string) {
      const tool = await resolveTool({
        tool: 'istioctl',
        version,
        env,
        log,
        ...(cacheDir ? { cacheDir } : {}),
        ...(downloadBaseUrls ? { baseUrls: downloadBaseUrls } : {}),
      });
      if (tool.version !== version) {
        throw new EnvironmentError(
          `istioctl ${tool.version} (${tool.path}) is not the ${version} the upgrade needs; remove it from PATH or install istioctl ${version}.`,
        );
      }
      return { path: tool.path, env };
    },

    async provision({ suites, progress }): Promise<ClusterTarget> {
      if (!tools) await preflight();
      await createOrAttach(progress);
      const kube = connect({ kubeconfigPath, timeouts });
      const kubernetesVersion = await checkReachable(kube);
      if (gatewayApi) await ensureGatewayApiCrds(kube, progress);
      const istio = await ensureIstio(kube, progress);
      const hosts = await externalHosts(kube, suites);
      return {
        kind: 'kind',
        simulated: false,
        kubeconfigPath,
        kubernetesVersion,
        kindVersion: tools!.kind.version,
        cni: 'kindnet',
        istio,
        externalHosts: hosts,
        istioctlPath: tools!.istioctl.path,
      };
    },

    release({ keep: keepNow, progress }) {
      // One cleanup per provider: a second call (Ctrl-C during cleanup) waits for the first.
      releasing ??= release(keepNow, progress);
      return releasing;
    },
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
