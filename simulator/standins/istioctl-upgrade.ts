/**
 * The stand-in istioctl's commands around an upgrade: `x precheck` (is the cluster safe to
 * install or upgrade), `analyze -n NS` (validation messages for namespaces) and
 * `uninstall --revision REV -y` (remove one control-plane revision). They answer from
 * what the cluster holds, in the wording and with the exit codes real istioctl uses.
 */
import type { StandinIo } from './kind.ts';
import { commandFlags, connectFrom, refusesToPrompt, standinIstioctlVersion } from './istioctl.ts';
import {
  ISTIO_CONTROL_PLANE,
  injectorWebhookName,
  istiodName,
  meshConfigMapName,
} from '../../harness/facts/istio-install.ts';
import { INJECTION } from '../../harness/facts/injection.ts';
import {
  ISTIOCTL_ANALYZE,
  ISTIOCTL_EXIT,
  ISTIOCTL_PRECHECK,
  renderColorizedMessage,
  VIRTUAL_SERVICE_GATEWAY_MESSAGES,
  analyzeTarget,
  analyzerFoundIssues,
  atOrAbove,
  noValidationIssues,
  parseAnalyzerLevel,
  renderAnalyzerMessage,
  sortAnalyzerMessages,
  type AnalyzerLevel,
  type AnalyzerMessage,
} from '../../harness/facts/istioctl.ts';
import type { KubeLite, LiteObject, LiteRef } from './kube-lite.ts';

/** The served version the stand-in reads Istio's networking kinds at. */
const ISTIO_NETWORKING = { group: 'networking.istio.io', version: 'v1' } as const;

/** The fields of a VirtualService the analyzer reads. */
interface VirtualServiceShape extends LiteObject {
  spec?: { hosts?: string[]; gateways?: string[] };
}

// The cluster client (kube-lite.ts, not client-node: see istioctl.ts) is loaded only by
// commands that talk to a cluster.
const kubernetes = () => import('./kube-lite.ts');

/** `istioctl x precheck`: an unreachable cluster is an error; otherwise safe. */
export async function precheck(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  io: StandinIo,
): Promise<number> {
  const values = commandFlags(args, { revision: { type: 'string', short: 'r' } });
  const kube = await connectFrom(values, env);
  let gitVersion: string;
  try {
    gitVersion = String(
      ((await kube.request('GET', '/version')) as { gitVersion?: unknown }).gitVersion,
    );
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    io.err(`Error: failed to get the Kubernetes version: ${text}\n`);
    return ISTIOCTL_EXIT.unknownError;
  }
  const messages = serverVersionMessages(gitVersion, standinIstioctlVersion(env));
  if (messages.length === 0) {
    io.err(`${ISTIOCTL_PRECHECK.noIssues}\n`);
    return 0;
  }
  io.out(`${messages.join('\n')}\n`);
  io.err(`${ISTIOCTL_PRECHECK.issuesFound}\n`);
  return ISTIOCTL_PRECHECK.issuesExitCode;
}

/**
 * `checkServerVersion`: IST0142 when the cluster's Kubernetes minor is below the minimum of
 * this istioctl's own minor (ISTIOCTL_PRECHECK). The other checks (permissions, Gateway API
 * CRD versions, alpha annotations) are not modelled: the simulated cluster grants every
 * permission and serves the Gateway API at v1.
 */
export function serverVersionMessages(gitVersion: string, istioctlVersion: string): string[] {
  const minor = Number(/^v?1\.(\d+)/.exec(gitVersion)?.[1]);
  const minimum =
    ISTIOCTL_PRECHECK.minKubernetesMinor[istioctlVersion.split('.').slice(0, 2).join('.')];
  if (minimum === undefined || !Number.isFinite(minor) || minor >= minimum) return [];
  const { code, level, text } = ISTIOCTL_PRECHECK.unsupportedKubernetesVersion;
  // precheck prints its messages coloured, terminal or not (ISTIOCTL_PRECHECK).
  return [
    renderColorizedMessage(
      level,
      `[${code}] (${ISTIOCTL_PRECHECK.clusterResource}) ${text(gitVersion, `1.${minimum}`)}`,
    ),
  ];
}

/**
 * `istioctl analyze -n NS`: the messages of `virtualservice.GatewayAnalyzer` for the
 * VirtualServices of NS (a gateway they name that is no Gateway in the cluster:
 * IST0101 Error, IST0132 Warning; VIRTUAL_SERVICE_GATEWAY_MESSAGES), printed and judged as
 * istioctl does (ISTIOCTL_ANALYZE): messages at `--output-threshold` to stdout, exit 79
 * (ISTIOCTL_EXIT) when one reaches `--failure-threshold`, else the "no validation issues" line.
 * The answer comes from the stored objects alone; the other analyzers are not modelled.
 */
export async function analyze(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  io: StandinIo,
): Promise<number> {
  const values = commandFlags(args, {
    namespace: { type: 'string', short: 'n' },
    'all-namespaces': { type: 'boolean', short: 'A' },
    'failure-threshold': { type: 'string' },
    'output-threshold': { type: 'string' },
  });
  const thresholds: Record<'failure' | 'output', AnalyzerLevel> = {
    failure: ISTIOCTL_ANALYZE.defaultFailureThreshold,
    output: ISTIOCTL_ANALYZE.defaultOutputThreshold,
  };
  for (const [key, flag] of [
    ['failure', 'failure-threshold'],
    ['output', 'output-threshold'],
  ] as const) {
    const given = values[flag];
    if (given === undefined) continue;
    const level = parseAnalyzerLevel(given);
    if (!level) {
      io.err(`Error: invalid argument "${given}" for "--${flag}" flag: invalid level option\n`);
      return ISTIOCTL_EXIT.incorrectUsage;
    }
    thresholds[key] = level;
  }
  const kube = await connectFrom(values, env);
  const allNamespaces = values['all-namespaces'] === true;
  const namespace = values.namespace ?? 'default';
  if (!allNamespaces) {
    try {
      await kube.read({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
    } catch {
      io.err(`Error: namespace "${namespace}" not found\n`);
      return 1;
    }
  }
  const messages = sortAnalyzerMessages(
    await virtualServiceGatewayMessages(kube, allNamespaces ? undefined : namespace),
  );
  const target = analyzeTarget(allNamespaces ? undefined : namespace);
  const shown = messages.filter((message) => atOrAbove(message.level, thresholds.output));
  // istioctl prints the rendered list with Fprintln: an empty list is an empty line.
  io.out(`${shown.map(renderAnalyzerMessage).join('\n')}\n`);
  if (shown.length === 0) io.err(`${noValidationIssues(target)}\n`);
  // The exit code is judged on every message, whatever the output threshold hides.
  if (messages.some((message) => atOrAbove(message.level, thresholds.failure))) {
    io.err(`${analyzerFoundIssues(target, standinIstioctlVersion(env))}\n`);
    return ISTIOCTL_EXIT.analyzerFoundIssues;
  }
  return 0;
}

/** IST0101/IST0132 for each gateway a VirtualService of `namespace` (or any) names that does not exist. */
async function virtualServiceGatewayMessages(
  kube: KubeLite,
  namespace: string | undefined,
): Promise<AnalyzerMessage[]> {
  const { isNotFound } = await kubernetes();
  const { group, version } = ISTIO_NETWORKING;
  let virtualServices: VirtualServiceShape[];
  try {
    const apiVersion = `${group}/${version}`;
    virtualServices = await kube.list<VirtualServiceShape>(apiVersion, 'VirtualService', {
      namespace,
    });
  } catch (error) {
    // No Istio CRDs: nothing to analyse.
    if (isNotFound(error)) return [];
    throw error;
  }
  const { meshGateway, referencedResourceNotFound, hostNotFoundInGateway } =
    VIRTUAL_SERVICE_GATEWAY_MESSAGES;
  const messages: AnalyzerMessage[] = [];
  for (const virtualService of virtualServices) {
    const vsNamespace = virtualService.metadata?.namespace ?? 'default';
    const vsName = virtualService.metadata?.name ?? '';
    const resource = { kind: 'VirtualService', namespace: vsNamespace, name: vsName };
    for (const ref of virtualService.spec?.gateways ?? []) {
      if (ref === meshGateway) continue;
      // NewShortOrFullName: `<ns>/<name>`, else a name in the VirtualService's namespace.
      const slash = ref.indexOf('/');
      const gateway =
        slash === -1
          ? { namespace: vsNamespace, name: ref }
          : { namespace: ref.slice(0, slash), name: ref.slice(slash + 1) };
      if (await gatewayExists(kube, gateway)) continue;
      messages.push(
        {
          code: referencedResourceNotFound.code,
          level: referencedResourceNotFound.level,
          resource,
          text: referencedResourceNotFound.text('gateway', ref),
        },
        {
          code: hostNotFoundInGateway.code,
          level: hostNotFoundInGateway.level,
          resource,
          text: hostNotFoundInGateway.text(
            virtualService.spec?.hosts ?? [],
            `${vsNamespace}/${vsName}`,
            `${gateway.namespace}/${gateway.name}`,
          ),
        },
      );
    }
  }
  return messages;
}

async function gatewayExists(
  kube: KubeLite,
  { namespace, name }: { namespace: string; name: string },
): Promise<boolean> {
  const { isNotFound } = await kubernetes();
  const { group, version } = ISTIO_NETWORKING;
  try {
    await kube.read({
      apiVersion: `${group}/${version}`,
      kind: 'Gateway',
      metadata: { name, namespace },
    });
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** `istioctl uninstall --revision REV -y`: deletes that revision's control plane. */
export async function uninstall(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  io: StandinIo,
): Promise<number> {
  const values = commandFlags(args, {
    revision: { type: 'string', short: 'r' },
    'skip-confirmation': { type: 'boolean', short: 'y' },
  });
  if (refusesToPrompt(values, io)) return 1;
  const revision = values.revision ?? INJECTION.defaultRevision;
  const kube = await connectFrom(values, env);
  const { isNotFound } = await kubernetes();
  const namespace = ISTIO_CONTROL_PLANE.defaultNamespace;
  const refs: LiteRef[] = [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: istiodName(revision), namespace },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: istiodName(revision), namespace } },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: istiodName(revision), namespace },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: meshConfigMapName(revision), namespace },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: injectorWebhookName(revision, namespace) },
    },
  ];
  for (const ref of refs) {
    try {
      await kube.delete(ref);
      io.out(`✔ Removed ${ref.kind}:${ref.metadata.namespace ?? ''}:${ref.metadata.name}.\n`);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  io.out('✔ Uninstall complete\n');
  return 0;
}
