/**
 * The stand-in `istioctl` (simulator/bin/istioctl): `version` and
 * `install -y -f <overlay>`, which applies the objects real istioctl would create
 * (istio-bootstrap.ts) to the cluster over HTTPS, then waits for istiod and the gateway like
 * `--readiness-timeout` does. It talks to the cluster through its own small client
 * (kube-lite.ts), not @kubernetes/client-node: real istioctl starts in a tenth of a second,
 * and loading client-node cost each invocation about 1.5 s of CPU.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import YAML from 'yaml';
import type { IstioInstallOptions } from '../istio-bootstrap.ts';
import { ISTIO_DEFAULT_VERSION } from '../../harness/versions.ts';
import type { StandinIo } from './kind.ts';
import { hasProxy } from '../../harness/facts.ts';
import { ISTIO_CONTROL_PLANE, istiodName } from '../../harness/facts/istio-install.ts';
import { egressChartRendersPdb } from '../../harness/facts/upgrade.ts';
import { imageVersion, statsMatcherIncludesOutbound } from '../../harness/istio/readings.ts';
import type { LiteDeployment, LitePod } from './kube-lite.ts';

// The cluster client and the install's objects are loaded only by the commands that need
// them: `istioctl version --remote=false` runs in every preflight and must stay fast.
const kubernetes = async () => ({
  ...(await import('./kube-lite.ts')),
  ...(await import('../istio-bootstrap.ts')),
  ...(await import('../profiles.ts')),
});

const processIo: StandinIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** The version this istioctl reports and installs: `EGRESS_SIM_ISTIOCTL_VERSION`, else the pinned default. */
export function standinIstioctlVersion(env: NodeJS.ProcessEnv): string {
  return env.EGRESS_SIM_ISTIOCTL_VERSION || ISTIO_DEFAULT_VERSION;
}

/** Runs one stand-in `istioctl` invocation and returns its exit code. */
export async function istioctlMain(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  io: StandinIo = processIo,
): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'version') return await version(rest, env, io);
    if (command === 'install') return await install(rest, env, io);
    if (command === 'x' && rest[0] === 'precheck') return await precheck(rest.slice(1), env, io);
    if (command === 'analyze') return await analyze(rest, env, io);
    if (command === 'uninstall') return await uninstall(rest, env, io);
    io.err(
      `Error: unknown command "${command ?? ''}" for "istioctl" (this is the egress-conformance stand-in)\n`,
    );
    return 1;
  } catch (error) {
    io.err(`Error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

import { analyze, precheck, uninstall } from './istioctl-upgrade.ts';

/** `--kubeconfig` and `--context`, as every cluster command of istioctl takes them. */
const KUBE_FLAGS = {
  kubeconfig: { type: 'string', short: 'c' },
  context: { type: 'string' },
} as const;

/** One command's flags: the cluster flags and `options`, strictly, without positionals. */
export function commandFlags<const T extends ParseArgsOptionsConfig>(
  args: readonly string[],
  options: T,
) {
  return parseArgs({
    args: [...args],
    options: { ...KUBE_FLAGS, ...options },
    strict: true,
    allowPositionals: false,
  }).values;
}

/** The kubeconfig a command uses: the flag, else the first of KUBECONFIG, else ~/.kube/config. */
export function kubeconfigOf(
  values: { kubeconfig?: string | undefined },
  env: NodeJS.ProcessEnv,
): string {
  return (
    values.kubeconfig ??
    (env.KUBECONFIG ?? '').split(delimiter).find(Boolean) ??
    join(homedir(), '.kube', 'config')
  );
}

/** The Kubernetes client for the cluster a command's flags (or KUBECONFIG) name. */
export async function connectFrom(
  values: { kubeconfig?: string | undefined; context?: string | undefined },
  env: NodeJS.ProcessEnv,
) {
  const { connectLite } = await import('./kube-lite.ts');
  return connectLite({ kubeconfigPath: kubeconfigOf(values, env), context: values.context });
}

/** The stand-in cannot ask "Proceed? (y/N)": without `-y` a changing command stops here. */
export function refusesToPrompt(values: { 'skip-confirmation'?: boolean }, io: StandinIo): boolean {
  if (values['skip-confirmation']) return false;
  io.err('Error: the stand-in istioctl cannot prompt; pass -y\n');
  return true;
}

async function version(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  io: StandinIo,
): Promise<number> {
  const values = commandFlags(args, {
    remote: { type: 'string' },
    short: { type: 'string', short: 's' },
  });
  const client = standinIstioctlVersion(env);
  io.out(`client version: ${client}\n`);
  if (values.remote === 'false') return 0;
  const kube = await connectFrom(values, env);
  const istiod = await kube
    .list<LiteDeployment>('apps/v1', 'Deployment', { labelSelector: 'app=istiod' })
    .catch((error: unknown) => {
      throw new Error(
        `failed to get control plane version: ${error instanceof Error ? error.message : String(error)}`,
      );
    });
  const image = istiod[0]?.spec?.template?.spec?.containers?.[0]?.image;
  if (image) io.out(`control plane version: ${imageVersion(image)}\n`);
  const pods = await kube.list<LitePod>('v1', 'Pod');
  const proxies = pods.filter((pod) => hasProxy(pod)).length;
  if (image) io.out(`data plane version: ${imageVersion(image)} (${proxies} proxies)\n`);
  return 0;
}

/** What the stand-in honours of an IstioOperator overlay. */
export function overlaySettings(
  overlay: unknown,
  clientVersion: string,
): IstioInstallOptions & { egressGateway: boolean } {
  const spec = ((overlay as { spec?: unknown } | null)?.spec ?? {}) as {
    hub?: string;
    tag?: string | number;
    revision?: string;
    values?: unknown;
    meshConfig?: {
      accessLogFile?: string;
      accessLogFormat?: string;
      accessLogEncoding?: string;
      outboundTrafficPolicy?: { mode?: string };
      defaultConfig?: { proxyStatsMatcher?: unknown };
    };
    components?: {
      egressGateways?: {
        name?: string;
        enabled?: boolean;
        namespace?: string;
        k8s?: { replicaCount?: number };
      }[];
    };
  };
  const mesh = spec.meshConfig ?? {};
  const gateway = (spec.components?.egressGateways ?? []).find(
    (g) => g.name === 'istio-egressgateway' && g.enabled === true,
  );
  return {
    version: spec.tag === undefined ? clientVersion : String(spec.tag),
    ...(spec.hub ? { hub: spec.hub } : {}),
    ...(spec.revision ? { revision: spec.revision } : {}),
    ...(gateway?.namespace ? { gatewayNamespace: gateway.namespace } : {}),
    ...(typeof gateway?.k8s?.replicaCount === 'number'
      ? { gatewayReplicas: gateway.k8s.replicaCount }
      : {}),
    // The chart renders the gateway's budget from its values alone (GATEWAY_PDB).
    gatewayDisruptionBudget: egressChartRendersPdb(spec.values),
    // The default profile leaves accessLogFile empty; only the overlay turns it on.
    accessLogFile: mesh.accessLogFile ?? '',
    ...(mesh.accessLogFormat ? { accessLogFormat: mesh.accessLogFormat } : {}),
    accessLogEncoding: mesh.accessLogEncoding === 'JSON' ? 'JSON' : 'TEXT',
    outboundStatsIncluded: statsMatcherIncludesOutbound(mesh.defaultConfig?.proxyStatsMatcher),
    outboundTrafficPolicy:
      mesh.outboundTrafficPolicy?.mode === 'REGISTRY_ONLY' ? 'REGISTRY_ONLY' : 'ALLOW_ANY',
    // The default profile has no egress gateway; only the overlay can turn it on.
    egressGateway: gateway !== undefined,
  };
}

async function install(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  io: StandinIo,
): Promise<number> {
  const values = commandFlags(args, {
    'skip-confirmation': { type: 'boolean', short: 'y' },
    filename: { type: 'string', short: 'f', multiple: true },
    'readiness-timeout': { type: 'string' },
    revision: { type: 'string', short: 'r' },
  });
  if (refusesToPrompt(values, io)) return 1;
  let overlay: unknown = {};
  for (const file of values.filename ?? []) overlay = YAML.parse(await readFile(file, 'utf8'));
  const client = standinIstioctlVersion(env);
  const { applyObjects, applyProfiles, istioInstallObjects, readProfiles, waitForDeploymentReady } =
    await kubernetes();
  const { egressGateway, ...overlaid } = overlaySettings(overlay, client);
  // EGRESS_SIM_PROFILE: the install takes the shape of the chosen profiles, as if the overlay said so.
  const profiled = applyProfiles(readProfiles(env.EGRESS_SIM_PROFILE), { install: overlaid });
  const settings = {
    ...profiled.install,
    ...(values.revision ? { revision: values.revision } : {}),
    egressGateway,
  };
  const objects = [
    ...istioInstallObjects(settings).filter(
      (object) => egressGateway || !object.metadata.name.startsWith('istio-egressgateway'),
    ),
    ...profiled.objects,
  ];
  const kube = await connectFrom(values, env);
  io.out(
    `This will install the Istio ${settings.version ?? client} profile "default" into the cluster. Proceed? (y/N)\n`,
  );
  await applyObjects(kube, objects);
  io.out('✔ Istio core installed ⛵️\n');
  const timeoutMs = parseGoDuration(values['readiness-timeout'] ?? '300s');
  await waitForDeploymentReady(kube, {
    namespace: ISTIO_CONTROL_PLANE.defaultNamespace,
    name: istiodName(settings.revision),
    timeoutMs,
  });
  io.out('✔ Istiod installed 🧠\n');
  if (egressGateway) {
    await waitForDeploymentReady(kube, {
      namespace: settings.gatewayNamespace ?? ISTIO_CONTROL_PLANE.defaultNamespace,
      name: 'istio-egressgateway',
      timeoutMs,
    });
    io.out('✔ Egress gateways installed 🛫\n');
  }
  io.out('✔ Installation complete\n');
  return 0;
}

/** Parses a Go duration such as `300s`, `5m0s` or `1h2m3.5s` into milliseconds. */
export function parseGoDuration(text: string): number {
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  let total = 0;
  const pattern = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let consumed = 0;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    total += Number(match[1]) * (units[match[2]!] ?? 0);
    consumed = pattern.lastIndex;
  }
  if (consumed !== text.length || text.length === 0) throw new Error(`invalid duration "${text}"`);
  return total;
}
