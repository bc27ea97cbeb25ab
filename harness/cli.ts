/**
 * `npm run conformance -- [flags]`: prepares a cluster (kind, existing or simulated),
 * runs the selected suites (harness/executor.ts), writes the reports, and cleans up.
 * Exit codes: 0 all passed, 1 a behaviour failed, 2 environment or usage error.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
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
import { findSuite } from '../suites/index.ts';
import { listSuites } from './list.ts';
import { checkManifestTree } from './manifests.ts';
import { checkOutputs } from './outputs.ts';
import { type ClusterProvider, type ClusterTarget, type Progress } from './providers/types.ts';
import { type RunContext } from './run-context.ts';
import { REQUIRED_CONSECUTIVE_OBSERVATIONS, resolveTimeouts } from './timeouts.ts';
import { gatewayReplicasFor } from './upgrade/options.ts';
import { environmentErrorLines, leftoversSentence, type RunPlace } from './leftovers.ts';
import { handleInterrupts, signalExitCode } from './signals.ts';
import { ApiUnavailableError, setApiStep } from './k8s/retry.ts';
import { exitNow } from './exit.ts';

import { helpText, parseCli, UsageError, type CliOptions } from './cli-options.ts';

export { helpText, parseCli, UsageError, type CliOptions };

/** Creates the provider for the chosen cluster kind. */
export async function createProvider(
  options: CliOptions,
  runId: string,
  runDir: string,
  log: (line: string) => void,
  signal: AbortSignal,
  env: NodeJS.ProcessEnv = process.env,
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
        ...(options.outboundPolicy ? { outboundTrafficPolicy: options.outboundPolicy } : {}),
        ...gatewayReplicasFor(options.upgrade),
        env,
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
        gatewayApi: options.apis.includes('gateway-api'),
        ...gatewayReplicasFor(options.upgrade),
        external: options.external ?? { mode: 'local' },
        ...(options.outboundPolicy ? { outboundTrafficPolicy: options.outboundPolicy } : {}),
        timeouts: resolveTimeouts(options.timeoutOverrides),
        log,
        signal,
        env,
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
        env,
      });
    }
  }
}

/** Where the CLI writes: the process's stdout and stderr, or a caller's (in-process runs). */
export interface CliOutput {
  out: { write(text: string): unknown; isTTY?: boolean };
  err: { write(text: string): unknown };
}

/**
 * Where a run happens: its environment (tool paths, KUBECONFIG, the simulated cluster's
 * EGRESS_SIM_* settings) and the folder relative paths and `.runs/` are resolved in. The
 * process's own unless a caller runs the CLI in-process (the project's end-to-end tests).
 */
export interface RunPlaceOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs the CLI and returns the exit code (never throws). */
export async function main(
  argv: readonly string[],
  io: CliOutput = { out: process.stdout, err: process.stderr },
  { env = process.env, cwd = process.cwd() }: RunPlaceOptions = {},
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
  const reportsDir = path.resolve(cwd, options.reportsDir);
  const junitPath = path.resolve(cwd, options.junit);
  const runDir = path.resolve(cwd, '.runs', runId);
  try {
    await checkOutputs({ reportsDir, junitPath, runDir });
  } catch (error) {
    complain(error instanceof Error ? error.message : String(error));
    await rm(runDir, { recursive: true, force: true }).catch(() => {});
    return EXIT_ENVIRONMENT_ERROR;
  }
  if (options.upgrade) {
    const { upgradeFromCli } = await import('./upgrade/cli.ts');
    const context = { options, runId, runDir, reportsDir, argv, say, complain };
    return upgradeFromCli({
      ...context,
      createProvider: (chosen, id, dir, log, signal) =>
        createProvider(chosen, id, dir, log, signal, env),
    });
  }
  const report = createRunReport({
    runId,
    argv,
    requested: {
      clusterKind: options.cluster,
      suites: options.suites,
      mtlsModes: options.mtlsModes,
      apis: options.apis,
      external: options.external,
      istioVersion: options.istioVersion,
      keepOnFailure: options.keepOnFailure,
    },
  });
  report.junitFile = path.relative(reportsDir, junitPath);
  const reporter = createProgress(io.out, {
    interactive: isInteractive(io.out),
  });
  const tracked: Progress = trackSteps(report, reporter);
  // The step in progress names where the API server stopped answering, if it does.
  const progress: Progress = (step, state, detail) => {
    setApiStep(state === 'start' ? step : undefined);
    tracked(step, state, detail);
  };
  const place = (): RunPlace => ({ ...options, runId, keepCluster });
  const leftovers = () => leftoversSentence(place());

  let provider: ClusterProvider | undefined;
  let reportsFailed = false;
  // Set once the API server is known to have stopped answering: cleanup then skips API work.
  let apiWentDown = false;
  let keepCluster = options.keepCluster;
  const abortRun = new AbortController();
  const interrupts = handleInterrupts({
    place,
    complain,
    cancel: () => {
      report.interrupted = true;
      abortRun.abort();
    },
    // The run folder holds a kubeconfig (credentials): never left behind unless the cluster is kept.
    beforeExit: () => {
      if (!keepCluster) rmSync(runDir, { recursive: true, force: true });
    },
  });
  const interruptedCode = (): number => signalExitCode(interrupts.signal ?? 'SIGINT');
  try {
    provider = await createProvider(options, runId, runDir, say, abortRun.signal, env);
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
    // Loaded here, not at startup: the Kubernetes client costs a usage error a second.
    const { selectApis } = await import('./api-selection.ts');
    const selection = await selectApis(target, options.apis, say);
    report.apis = selection;
    const run: RunContext = {
      runId,
      target,
      mtlsModes: options.mtlsModes,
      apis: selection.apis,
      ...(selection.skipped.length > 0 ? { skippedApis: selection.skipped } : {}),
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
    const { runSuites } = await import('./runner.ts');
    const outcome = await runSuites({
      run,
      suites: options.suites.map((name) => findSuite(name)).filter((s) => s !== undefined),
      junitPath,
      parallel: options.parallel ?? (sharedHost ? 1 : undefined),
      signal: abortRun.signal,
      log: say,
      verbose: options.verbose,
      colors: isInteractive(io.out),
    });
    report.cases = outcome.cases;
    if (interrupts.signal) return interruptedCode();
    if (outcome.failed > 0 && options.keepOnFailure) keepCluster = true;
    say(
      `${outcome.passed} passed, ${outcome.failed} failed, ${outcome.skipped} skipped${target.simulated ? ' (SIMULATED cluster)' : ''}; JUnit: ${path.relative(cwd, junitPath)}`,
    );
    if (outcome.environmentErrors.length > 0) {
      // The results cannot speak for the mesh when the environment itself failed.
      const said = environmentErrorLines(outcome.environmentErrors, place());
      apiWentDown = said.apiDown;
      for (const line of said.lines) complain(line);
      return EXIT_ENVIRONMENT_ERROR;
    }
    return outcome.failed > 0 ? EXIT_CONFORMANCE_FAILURE : EXIT_PASSED;
  } catch (error) {
    if (!report.cases) recordSetupFailure(report, error);
    if (error instanceof EnvironmentError) {
      complain(error.message);
      apiWentDown = error instanceof ApiUnavailableError;
      const left = apiWentDown ? leftovers() : undefined;
      if (left) complain(left);
      return EXIT_ENVIRONMENT_ERROR;
    }
    if (interrupts.signal) return interruptedCode();
    // Anything else before the suites ran is a setup problem of the environment too.
    complain(`setup failed: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_ENVIRONMENT_ERROR;
  } finally {
    // The suites found the API server down (in their own processes): the sweep would only wait.
    if (report.target && !apiWentDown) {
      try {
        const restored = await restoreLeftLocks(report.target, runId);
        if (restored.length > 0)
          say(`restored the labels this run borrowed on ${restored.join(', ')}`);
      } catch (error) {
        // An API server that went down was already named, with what may be left.
        if (!(error instanceof ApiUnavailableError)) {
          complain(
            `restoring borrowed labels failed: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
    }
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
    interrupts.stop();
    // A signal that came while cleaning up after a finished run still says the run was cut short.
    // eslint-disable-next-line no-unsafe-finally
    if (interrupts.signal) return interruptedCode();
    if (reportsFailed) {
      // A run without its reports cannot gate anything: that is the environment's failure,
      // whatever the suites found, so it overrides the code the run returned.
      // eslint-disable-next-line no-unsafe-finally
      return EXIT_ENVIRONMENT_ERROR;
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const code = await main(process.argv.slice(2));
  // Open handles (the API clients' keep-alive sockets, anything a library leaves behind)
  // must not keep a finished run alive; EGRESS_DEBUG=1 names them.
  exitNow(code);
}

/** Borrowed labels a suite could not give back itself (harness/label-lock.ts restoreLocksOfRun). */
async function restoreLeftLocks(target: ClusterTarget, runId: string): Promise<string[]> {
  const [{ connect }, { restoreLocksOfRun }] = await Promise.all([
    import('./k8s/client.ts'),
    import('./label-lock.ts'),
  ]);
  const kube = connect({
    kubeconfigPath: target.kubeconfigPath,
    ...(target.context ? { context: target.context } : {}),
  });
  return restoreLocksOfRun(kube, runId);
}
