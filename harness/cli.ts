/**
 * `npm run conformance -- [flags]`: prepares a cluster (kind, existing or simulated),
 * runs the selected suites in vitest, writes the reports, and cleans up.
 * Exit codes: 0 all passed, 1 a behaviour failed, 2 environment or usage error.
 */
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import {
  createRunReport,
  recordSetupFailure,
  trackSteps,
  writeConformanceReports,
} from './reporting/conformance-report.ts';
import { keptResourcesLines, writeSummary } from './reporting/summary.ts';
import { createProgress, isInteractive } from './reporting/progress.ts';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  EXIT_CONFORMANCE_FAILURE,
  EXIT_ENVIRONMENT_ERROR,
  EXIT_PASSED,
  EnvironmentError,
} from './errors.ts';
import { SUITES, findSuite } from '../suites/index.ts';
import { listSuites } from './list.ts';
import { checkManifestTree } from './manifests.ts';
import { checkOutputs } from './outputs.ts';
import { RUN_LABEL, SHARED_LOCK_ANNOTATION } from './run-labels.ts';
import {
  CLUSTER_KINDS,
  type ClusterKind,
  type ClusterProvider,
  type Progress,
} from './providers/types.ts';
import { MTLS_MODES, type MtlsMode, type RunContext } from './run-context.ts';
import type { ApiName } from './variants.ts';
import { apiFlagProblem, parseApiFlag, selectApis } from './api-selection.ts';
import {
  REQUIRED_CONSECUTIVE_OBSERVATIONS,
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
import { runSuites } from './runner.ts';
import {
  UPGRADE_FLAGS,
  UPGRADE_HELP,
  gatewayReplicasFor,
  parseUpgradeOptions,
} from './upgrade/options.ts';
import { UsageError, parseExternal, parseLabel, parsePositive, parseTimeouts } from './cli-args.ts';

const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

export { UsageError };

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
  /** Vitest's full error output (code frames, stacks, causes) besides the failures' fields. */
  verbose: boolean;
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
    manifestsDir: path.resolve(
      (values.manifests as string | undefined) ?? path.join(PROJECT_ROOT, 'manifests'),
    ),
  };
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
  -v, --verbose               also print vitest's error output: code frames, stack traces, causes [off]
  -h, --help                  this text

Timeouts (--timeout NAME=MS):
${timeoutLines.join('\n')}

Exit codes:
  0  every selected behaviour holds
  1  a behaviour does not hold (conformance failure); the reports carry the evidence
  2  environment or usage error (missing Docker, unreachable cluster, bad flag): fix the setup and rerun
  130 interrupted by SIGINT (Ctrl-C), 143 by SIGTERM; what the run created is cleaned up first

Reports: <reports>/junit.xml, conformance.yaml, conformance.json, summary.md, diagnostics/.
`;
}

/** Creates the provider for the chosen cluster kind. */
export async function createProvider(
  options: CliOptions,
  runId: string,
  runDir: string,
  log: (line: string) => void,
  signal: AbortSignal,
): Promise<ClusterProvider> {
  switch (options.cluster) {
    case 'simulated': {
      // The simulated cluster is the project's test double, not part of the product: it is
      // reached only through this one dynamic import, and its own dependencies (ws) are
      // development dependencies.
      const { createSimulatedProvider } = await import('../simulator/provider.ts').catch(
        (error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          throw new EnvironmentError(
            /Cannot find package/.test(message)
              ? `The simulated cluster could not be loaded (${message}); it needs the development dependencies: run npm ci without --omit=dev.`
              : `The simulated cluster could not be loaded: ${message}.`,
          );
        },
      );
      return createSimulatedProvider({
        runDir,
        istioVersion: options.istioVersion,
        log,
        ...(options.istioRevision ? { istioRevision: options.istioRevision } : {}),
        ...gatewayReplicasFor(options.upgrade),
      });
    }
    case 'kind': {
      const { createKindProvider } = await import('./providers/kind.ts');
      return createKindProvider({
        runId,
        runDir,
        clusterName: options.clusterName,
        nodeImage: options.kindNodeImage,
        reuse: options.reuseCluster,
        keep: options.keepCluster,
        istioVersion: options.istioVersion,
        kindPath: options.kindPath,
        istioctlPath: options.istioctlPath,
        ...gatewayReplicasFor(options.upgrade),
        external: options.external ?? { mode: 'local' },
        timeouts: resolveTimeouts(options.timeoutOverrides),
        log,
        signal,
      });
    }
    case 'existing': {
      const { createExistingProvider } = await import('./providers/existing.ts');
      return createExistingProvider({
        runId,
        runDir,
        kubeconfigPath: options.kubeconfig,
        context: options.context,
        existingClusterOk: options.existingClusterOk,
        external: options.external,
        ...(options.istioRevision ? { revision: options.istioRevision } : {}),
        ...(options.gatewaySelector ? { gatewaySelector: options.gatewaySelector } : {}),
        timeouts: resolveTimeouts(options.timeoutOverrides),
        log,
      });
    }
  }
}

/** Runs the CLI and returns the exit code (never throws). */
export async function main(
  argv: readonly string[],
  io = { out: process.stdout, err: process.stderr },
): Promise<number> {
  const say = (line: string): void => void io.out.write(`${line}\n`);
  const complain = (line: string): void => void io.err.write(`egress-conformance: ${line}\n`);
  let options: CliOptions;
  try {
    options = parseCli(argv);
  } catch (error) {
    complain(error instanceof Error ? error.message : String(error));
    return EXIT_ENVIRONMENT_ERROR;
  }
  if (options.help) {
    say(helpText());
    return EXIT_PASSED;
  }
  if (options.list) {
    say(listSuites());
    return EXIT_PASSED;
  }
  // A broken or hostile --manifests folder is a usage error, found before any cluster work.
  const manifestProblem = checkManifestTree(options.manifestsDir);
  if (manifestProblem) {
    complain(`bad --manifests: ${manifestProblem}.`);
    return EXIT_ENVIRONMENT_ERROR;
  }

  const runId = randomBytes(4).toString('hex').slice(0, 6);
  const reportsDir = path.resolve(options.reportsDir);
  const runDir = path.resolve('.runs', runId);
  try {
    await checkOutputs({ reportsDir, junitPath: path.resolve(options.junit), runDir });
  } catch (error) {
    complain(error instanceof Error ? error.message : String(error));
    await rm(runDir, { recursive: true, force: true }).catch(() => {});
    return EXIT_ENVIRONMENT_ERROR;
  }
  if (options.upgrade) {
    const { upgradeFromCli } = await import('./upgrade/cli.ts');
    const context = { options, runId, runDir, reportsDir, argv, say, complain };
    return upgradeFromCli({ ...context, createProvider });
  }
  const report = createRunReport({
    runId,
    argv,
    requested: {
      clusterKind: options.cluster,
      suites: options.suites,
      mtlsModes: options.mtlsModes,
      external: options.external,
      istioVersion: options.istioVersion,
      keepOnFailure: options.keepOnFailure,
    },
  });
  report.junitFile = path.relative(reportsDir, path.resolve(options.junit));
  const reporter = createProgress(io.out, {
    interactive: isInteractive(io.out),
  });
  const progress: Progress = trackSteps(report, reporter);

  let provider: ClusterProvider | undefined;
  let reportsFailed = false;
  let interruptedBy: NodeJS.Signals | undefined;
  let keepCluster = options.keepCluster;
  // Exit codes by the shell convention 128 + signal number: SIGINT 130, SIGTERM 143.
  const interruptedCode = (): number => (interruptedBy === 'SIGTERM' ? 143 : 130);
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interruptedBy) {
      // A second signal during cleanup: stop now, and say what may be left and how to remove it.
      complain(
        `${signal} again: stopping without finishing cleanup. What may be left: namespaces labelled ${RUN_LABEL}=${runId}` +
          `${options.cluster === 'kind' && !options.reuseCluster ? ` and the kind cluster ${options.clusterName}` : ''}` +
          `, and labels borrowed on shared namespaces (annotated ${SHARED_LOCK_ANNOTATION}=${runId}). Remove them with: ` +
          `kubectl delete namespaces -l ${RUN_LABEL}=${runId}` +
          `${options.cluster === 'kind' && !options.reuseCluster ? `; kind delete cluster --name ${options.clusterName}` : ''}`,
      );
      process.exit(signal === 'SIGTERM' ? 143 : 130);
    }
    interruptedBy = signal;
    report.interrupted = true;
    complain(
      `interrupted by ${signal}: cleaning up what this run created (a second signal stops at once)`,
    );
    abortRun.abort();
  };
  const abortRun = new AbortController();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    provider = await createProvider(options, runId, runDir, say, abortRun.signal);
    progress('preflight', 'start');
    await provider.preflight();
    progress('preflight', 'done');
    progress('cluster', 'start', options.cluster);
    const target = await provider.provision({ suites: options.suites, progress });
    progress(
      'cluster',
      'done',
      `${target.kind}${target.simulated ? ' (SIMULATED)' : ''}, Istio ${target.istio.version}`,
    );
    report.target = target;
    report.requiredObservations = REQUIRED_CONSECUTIVE_OBSERVATIONS;
    if (abortRun.signal.aborted) return interruptedCode();
    const timeouts = resolveTimeouts(provider.timeoutDefaults ?? {}, options.timeoutOverrides);
    const run: RunContext = {
      runId,
      target,
      mtlsModes: options.mtlsModes,
      apis: await selectApis(target, options.apis, say),
      timeouts,
      requiredObservations: REQUIRED_CONSECUTIVE_OBSERVATIONS,
      clientImage: options.clientImage,
      keepOnFailure: options.keepOnFailure,
      reportsDir,
      manifestsDir: options.manifestsDir,
      ...(target.istioctlPath ? { istioctlPath: target.istioctlPath } : {}),
    };
    // Suites sharing one external host (internet and host: modes) each apply a ServiceEntry
    // for it; concurrently, the gateway would see several for one host and use one of them
    // (the simulated cluster keeps the oldest), so they run one at a time.
    const hostNames = options.suites.map((suite) => target.externalHosts[suite]?.name);
    const sharedHost = new Set(hostNames).size < hostNames.length;
    if (sharedHost && options.parallel === undefined) {
      say(`suites run one at a time: they share the external host ${hostNames[0] ?? ''}`);
    }
    const outcome = await runSuites({
      projectRoot: PROJECT_ROOT,
      run,
      suites: options.suites.map((name) => findSuite(name)).filter((s) => s !== undefined),
      junitPath: path.resolve(options.junit),
      parallel: options.parallel ?? (sharedHost ? 1 : undefined),
      signal: abortRun.signal,
      argv,
      log: say,
      verbose: options.verbose,
      colors: isInteractive(io.out),
    });
    report.cases = outcome.cases;
    if (interruptedBy) return interruptedCode();
    if (outcome.failed > 0 && options.keepOnFailure) keepCluster = true;
    say(
      `${outcome.passed} passed, ${outcome.failed} failed, ${outcome.skipped} skipped${target.simulated ? ' (SIMULATED cluster)' : ''}; JUnit: ${path.relative(process.cwd(), path.resolve(options.junit))}`,
    );
    if (outcome.environmentErrors.length > 0) {
      // The results cannot speak for the mesh when the environment itself failed.
      for (const message of outcome.environmentErrors) complain(message.split('\n')[0] ?? message);
      return EXIT_ENVIRONMENT_ERROR;
    }
    return outcome.failed > 0 ? EXIT_CONFORMANCE_FAILURE : EXIT_PASSED;
  } catch (error) {
    if (!report.cases) recordSetupFailure(report, error);
    if (error instanceof EnvironmentError) {
      complain(error.message);
      return EXIT_ENVIRONMENT_ERROR;
    }
    if (interruptedBy) return interruptedCode();
    // Anything else before the suites ran is a setup problem of the environment too.
    complain(`setup failed: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_ENVIRONMENT_ERROR;
  } finally {
    if (provider) {
      try {
        await provider.release({ keep: keepCluster, progress });
      } catch (error) {
        complain(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    try {
      report.finishedAt = new Date();
      report.clusterKept = keepCluster;
      await writeConformanceReports(reportsDir, report);
      await writeSummary(reportsDir, report);
      for (const line of keptResourcesLines(report)) say(line);
    } catch (error) {
      reportsFailed = true;
      complain(
        `writing the reports failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    reporter.stop();
    if (!keepCluster) {
      // The run directory holds the kubeconfig (credentials): keep it only with the cluster.
      await rm(runDir, { recursive: true, force: true });
    }
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (reportsFailed && !interruptedBy) {
      // A run without its reports cannot gate anything: that is the environment's failure,
      // whatever the suites found, so it overrides the code the run returned.
      // eslint-disable-next-line no-unsafe-finally
      return EXIT_ENVIRONMENT_ERROR;
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const code = await main(process.argv.slice(2));
  // Idle keep-alive sockets of the API clients would hold the process open for seconds.
  process.exit(code);
}
