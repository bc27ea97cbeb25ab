/**
 * The command line of `npm run conformance`: its flags, their parsing and validation (a
 * mistake is a UsageError: exit 2 with one line), and the `--help` text.
 */
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SUITES, findSuite } from '../suites/index.ts';
import { CLUSTER_KINDS, type ClusterKind } from './providers/types.ts';
import { MTLS_MODES, type MtlsMode } from './run-context.ts';
import { apiFlagProblem, parseApiFlag, type ApiName } from './variants.ts';
import {
  TIMEOUT_DOCS,
  TIMEOUT_NAMES,
  DEFAULT_TIMEOUTS,
  resolveTimeouts,
  type TimeoutConfig,
} from './timeouts.ts';
import {
  CLIENT_IMAGE,
  ISTIO_DEFAULT_VERSION,
  ISTIO_SUPPORTED_VERSIONS,
  KIND_NODE_IMAGE,
} from './versions.ts';
import * as outboundPolicy from './outbound-policy.ts';
import { UPGRADE_FLAGS, UPGRADE_HELP, parseUpgradeOptions } from './upgrade/options.ts';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** A mistake in the command line: exit 2 with one line naming the valid choices. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const FLAGS = {
  help: { type: 'boolean', short: 'h' },
  list: { type: 'boolean' },
  suite: { type: 'string', multiple: true },
  cluster: { type: 'string', default: 'kind' },
  mtls: { type: 'string', default: 'both' },
  api: { type: 'string', default: 'both' },
  external: { type: 'string' },
  junit: { type: 'string' },
  reports: { type: 'string', default: 'reports' },
  'keep-on-failure': { type: 'boolean', default: false },
  timeout: { type: 'string', multiple: true },
  'istio-version': { type: 'string', default: ISTIO_DEFAULT_VERSION },
  istioctl: { type: 'string' },
  kind: { type: 'string' },
  'kind-node-image': { type: 'string', default: KIND_NODE_IMAGE },
  'cluster-name': { type: 'string', default: 'egress-conformance' },
  'keep-cluster': { type: 'boolean', default: false },
  'reuse-cluster': { type: 'boolean', default: false },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'existing-cluster-ok': { type: 'boolean', default: false },
  'client-image': { type: 'string', default: CLIENT_IMAGE },
  manifests: { type: 'string' },
  parallel: { type: 'string' },
  'istio-revision': { type: 'string' },
  'gateway-label': { type: 'string' },
  verbose: { type: 'boolean', short: 'v', default: false },
  ...UPGRADE_FLAGS,
  ...outboundPolicy.FLAG,
} as const;

/** The parsed command line. */
export interface CliOptions {
  help: boolean;
  list: boolean;
  suites: string[];
  cluster: ClusterKind;
  mtlsModes: MtlsMode[];
  apis: ApiName[];
  external: { mode: 'local' | 'internet' | 'host'; hostName?: string } | undefined;
  junit: string;
  reportsDir: string;
  keepOnFailure: boolean;
  timeoutOverrides: Partial<TimeoutConfig>;
  istioVersion: string;
  istioctlPath: string | undefined;
  kindPath: string | undefined;
  kindNodeImage: string;
  clusterName: string;
  keepCluster: boolean;
  reuseCluster: boolean;
  kubeconfig: string | undefined;
  context: string | undefined;
  existingClusterOk: boolean;
  clientImage: string;
  manifestsDir: string;
  /** How many suites run at once. */
  parallel: number | undefined;
  istioRevision: string | undefined;
  gatewaySelector: { key: string; value: string } | undefined;
  /** Each failure's stack trace and causes besides its fields. */
  verbose: boolean;
  /** `--outbound-policy`: the mesh-wide policy to install with (kind, simulated). */
  outboundPolicy: outboundPolicy.OutboundTrafficPolicy | undefined;
  /** `--upgrade-from` or `--disruption`: an upgrade run (harness/upgrade). */
  upgrade?: ReturnType<typeof parseUpgradeOptions>;
}

/** Parses argv (without node and script); throws {@link UsageError} naming the valid choices. */
export function parseCli(argv: readonly string[]): CliOptions {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: FLAGS,
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    const flag = /'([^']+)'/.exec(text)?.[1];
    if (/Unknown option/i.test(text)) {
      throw new UsageError(
        `unknown flag ${flag ?? ''}; valid flags: ${Object.keys(FLAGS)
          .map((name) => `--${name}`)
          .join(', ')}`,
      );
    }
    if (/Unexpected argument/i.test(text)) {
      throw new UsageError(
        `unexpected argument ${flag ?? ''}; flags take the form --name value (see --help)`,
      );
    }
    throw new UsageError(text.split('\n')[0] ?? text);
  }
  const suites =
    (values.suite as string[] | undefined)?.flatMap((s) => s.split(',')) ??
    SUITES.map((s) => s.name);
  for (const name of suites) {
    if (!findSuite(name)) {
      throw new UsageError(
        `unknown suite "${name}"; valid suites: ${SUITES.map((s) => s.name).join(', ')}`,
      );
    }
  }
  const cluster = values.cluster as string;
  if (!(CLUSTER_KINDS as readonly string[]).includes(cluster)) {
    throw new UsageError(
      `unknown cluster kind "${cluster}"; valid kinds: ${CLUSTER_KINDS.join(', ')}`,
    );
  }
  const mtls = values.mtls as string;
  const mtlsModes: MtlsMode[] | undefined =
    mtls === 'both'
      ? [...MTLS_MODES]
      : (MTLS_MODES as readonly string[]).includes(mtls)
        ? [mtls as MtlsMode]
        : undefined;
  if (!mtlsModes)
    throw new UsageError(`unknown --mtls "${mtls}"; valid values: disabled, enabled, both`);
  const apis = parseApiFlag(values.api as string);
  if (!apis) throw new UsageError(apiFlagProblem(values.api as string));
  const istioVersion = values['istio-version'] as string;
  if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(istioVersion)) {
    throw new UsageError(
      `--istio-version "${istioVersion}" is not a version like ${ISTIO_DEFAULT_VERSION}; supported: ${ISTIO_SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  return {
    upgrade: parseUpgradeOptions(values, istioVersion, (message) => new UsageError(message)),
    help: Boolean(values.help),
    list: Boolean(values.list),
    suites,
    cluster: cluster as ClusterKind,
    mtlsModes,
    apis,
    external: parseExternal(values.external as string | undefined),
    // The reports folder holds every report unless --junit names another place.
    junit: (values.junit as string | undefined) ?? path.join(values.reports as string, 'junit.xml'),
    reportsDir: values.reports as string,
    keepOnFailure: Boolean(values['keep-on-failure']),
    timeoutOverrides: parseTimeouts((values.timeout as string[] | undefined) ?? []),
    istioVersion,
    istioctlPath: values.istioctl as string | undefined,
    kindPath: values.kind as string | undefined,
    kindNodeImage: values['kind-node-image'] as string,
    clusterName: values['cluster-name'] as string,
    keepCluster: Boolean(values['keep-cluster']),
    reuseCluster: Boolean(values['reuse-cluster']),
    kubeconfig: values.kubeconfig as string | undefined,
    context: values.context as string | undefined,
    existingClusterOk: Boolean(values['existing-cluster-ok']),
    clientImage: values['client-image'] as string,
    parallel: parsePositive('--parallel', values.parallel as string | undefined),
    istioRevision: values['istio-revision'] as string | undefined,
    gatewaySelector: parseLabel(values['gateway-label'] as string | undefined),
    verbose: Boolean(values.verbose),
    outboundPolicy: outboundPolicy.parse(values, cluster as ClusterKind, UsageError),
    manifestsDir: path.resolve(
      (values.manifests as string | undefined) ?? path.join(PROJECT_ROOT, 'manifests'),
    ),
  };
}

function parseExternal(value: string | undefined): CliOptions['external'] {
  if (value === undefined) return undefined;
  if (value === 'local' || value === 'internet') return { mode: value };
  const host = /^host:([a-z0-9]([a-z0-9.-]*[a-z0-9])?)$/i.exec(value)?.[1];
  if (host) return { mode: 'host', hostName: host.toLowerCase() };
  throw new UsageError(
    `unknown --external "${value}"; valid values: local, internet, host:<dns-name>`,
  );
}

function parsePositive(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(value))
    throw new UsageError(`${flag} takes a whole number >= 1, got "${value}"`);
  return Number(value);
}

function parseLabel(value: string | undefined): CliOptions['gatewaySelector'] {
  if (value === undefined) return undefined;
  const match = /^([\w./-]+)=([\w.-]+)$/.exec(value);
  if (!match?.[1] || !match[2]) {
    throw new UsageError(`bad --gateway-label "${value}"; use key=value, e.g. istio=egressgateway`);
  }
  return { key: match[1], value: match[2] };
}

function parseTimeouts(entries: readonly string[]): Partial<TimeoutConfig> {
  const overrides: Partial<Record<string, number>> = {};
  for (const entry of entries) {
    const match = /^([a-zA-Z]+)=(\d+)(ms|s)?$/.exec(entry);
    if (!match?.[1] || !(TIMEOUT_NAMES as string[]).includes(match[1])) {
      throw new UsageError(
        `bad --timeout "${entry}"; use name=milliseconds (or name=Ns) with a name from: ${TIMEOUT_NAMES.join(', ')}`,
      );
    }
    overrides[match[1]] = Number(match[2]) * (match[3] === 's' ? 1000 : 1);
  }
  // Bounds are checked here, before any cluster work, so a bad value is a usage error.
  try {
    resolveTimeouts(overrides);
  } catch (error) {
    throw new UsageError(
      `bad --timeout: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return overrides;
}

/** The `--help` text. */
export function helpText(): string {
  const timeoutLines = TIMEOUT_NAMES.map(
    (name) =>
      `    ${name.padEnd(20)} ${String(DEFAULT_TIMEOUTS[name]).padStart(7)} ms  ${TIMEOUT_DOCS[name]}`,
  );
  return `egress-conformance: certifies that an Istio mesh routes egress the way Istio's "Egress Gateways" task documents.

Usage: npm run conformance -- [flags]

Suites (--suite, repeatable or comma-separated; default: all):
${SUITES.map((s) => `  ${s.name.padEnd(16)} ${s.description}`).join('\n')}

Flags (default in brackets):
  --list                      list the suites with their descriptions and exit
  --suite NAME                run only this suite (repeatable) [all]
  --cluster KIND              kind | existing | simulated [kind]
                                kind: create a kind cluster, install Istio, delete it afterwards
                                existing: use the cluster in --kubeconfig/--context (needs --existing-cluster-ok)
                                simulated: an in-process model of a cluster with Istio, for testing this tool
  --mtls MODE                 disabled | enabled | both: sidecar-to-gateway mTLS variants [both]
  --api API                   istio-api | gateway-api | both: configuration APIs [both]
${outboundPolicy.HELP}
  --external MODE             local | internet | host:<dns-name> [local on kind, host:<name> required on existing]
  --junit PATH                JUnit XML report [<reports>/junit.xml]
  --reports DIR               folder for all reports and diagnostics [reports]
  --keep-on-failure           keep the namespaces of failed tests (and the cluster) for debugging [off]
  --timeout NAME=MS           override one timeout (repeatable), e.g. --timeout configPropagation=90000
  --istio-version X.Y.Z       Istio to install on kind [${ISTIO_DEFAULT_VERSION}]; supported: ${ISTIO_SUPPORTED_VERSIONS.join(', ')}
  --istioctl PATH             istioctl binary to use [PATH if its version matches, else download]
  --kind PATH                 kind binary to use [PATH if its version matches, else download]
  --kind-node-image IMAGE     kind node image [${KIND_NODE_IMAGE}]
  --cluster-name NAME         kind cluster name [egress-conformance]
  --reuse-cluster             use an existing kind cluster of that name instead of creating one [off]
  --keep-cluster              do not delete the kind cluster afterwards [off]
  --kubeconfig PATH           kubeconfig for --cluster existing [$KUBECONFIG, then ~/.kube/config]
  --context NAME              kubeconfig context for --cluster existing [current context]
  --existing-cluster-ok       allow running against an existing cluster (it creates namespaces there) [off]
  --client-image IMAGE        curl client image [${CLIENT_IMAGE}]
  --parallel N                how many suites run at once [all selected]
  --istio-revision REV        existing clusters: the Istio revision to test [the default revision]
  --gateway-label KEY=VALUE   existing clusters: the label selecting the egress gateway pods [istio=egressgateway]
  --manifests DIR             manifests to apply instead of the bundled ones (same layout) [manifests/]
${UPGRADE_HELP}
  -v, --verbose               also print each failure's stack trace and its causes [off]
  -h, --help                  this text

Timeouts (--timeout NAME=MS):
${timeoutLines.join('\n')}

Exit codes:
  0  every selected behaviour holds
  1  a behaviour does not hold (conformance failure); the reports carry the evidence
  2  environment or usage error (missing Docker, unreachable cluster, bad flag): fix the setup and rerun
  130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM; what the run created is cleaned up first

Reports: <reports>/junit.xml, conformance.yaml, conformance.json, summary.md, diagnostics/.

Environment: EGRESS_DEBUG=1 prints debug output (at exit: the handles still open).
`;
}
