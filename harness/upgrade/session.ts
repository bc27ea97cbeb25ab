/**
 * What every kind of upgrade run shares: the cluster it works on (provider, target, run
 * context), a phase of the selected suites with its cases named by phase, and the
 * deletion of the probe namespaces.
 */
import path from 'node:path';
import type { CliOptions } from '../cli.ts';
import type { RunPlace } from '../leftovers.ts';
import { connect, type Kube } from '../k8s/client.ts';
import { deleteNamespaceAndWait } from '../k8s/namespaces.ts';
import type { ClusterProvider, ClusterTarget } from '../providers/types.ts';
import type { RunContext } from '../run-context.ts';
import { runSuites } from '../runner.ts';
import {
  REQUIRED_CONSECUTIVE_OBSERVATIONS,
  resolveTimeouts,
  type TimeoutConfig,
} from '../timeouts.ts';
import { selectApis } from '../api-selection.ts';
import { findSuite } from '../../suites/index.ts';
import type { CaseResult } from '../reporting/junit.ts';
import type { UpgradeOptions } from './options.ts';
import { PROBE_PATHS, probeHostKey } from './probes.ts';

/** What the CLI hands over to an upgrade run. */
export interface UpgradeRunOptions {
  options: CliOptions;
  upgrade: UpgradeOptions;
  runId: string;
  runDir: string;
  reportsDir: string;
  argv: readonly string[];
  say: (line: string) => void;
  complain: (line: string) => void;
  signal: AbortSignal;
  createProvider: (istioVersion: string) => Promise<ClusterProvider>;
  /** Where the run works, for what may be left when it cannot clean up (leftovers.ts). */
  place: () => RunPlace;
}

/** The cluster an upgrade run works on, once provisioned. */
export interface Session {
  provider: ClusterProvider;
  target: ClusterTarget;
  context: RunContext;
  kube: Kube;
  timeouts: TimeoutConfig;
}

/**
 * Provisions the cluster (installing `istioVersion` where the provider installs Istio) with
 * external hosts for the suites and for each probe path. `onProvider` sees the provider as
 * soon as it exists, so a failed provision is still released.
 */
export async function openSession(
  run: UpgradeRunOptions,
  istioVersion: string,
  onProvider: (provider: ClusterProvider) => void,
): Promise<Session> {
  const { options } = run;
  const provider = await run.createProvider(istioVersion);
  onProvider(provider);
  const progress = (): void => {};
  await provider.preflight();
  const target = await provider.provision({
    suites: [...options.suites, ...PROBE_PATHS.map(probeHostKey)],
    progress,
  });
  const timeouts = resolveTimeouts(provider.timeoutDefaults ?? {}, options.timeoutOverrides);
  const selection = await selectApis(target, options.apis, run.say);
  const context: RunContext = {
    runId: run.runId,
    target,
    mtlsModes: options.mtlsModes,
    apis: selection.apis,
    skippedApis: selection.skipped,
    timeouts,
    requiredObservations: REQUIRED_CONSECUTIVE_OBSERVATIONS,
    clientImage: options.clientImage,
    keepOnFailure: options.keepOnFailure,
    reportsDir: run.reportsDir,
    manifestsDir: options.manifestsDir,
    ...(target.istioctlPath ? { istioctlPath: target.istioctlPath } : {}),
  };
  return {
    provider,
    target,
    context,
    kube: connect({ kubeconfigPath: target.kubeconfigPath }),
    timeouts,
  };
}

/**
 * Runs the selected suites as phase `name`; their cases are named `[name] …`. Environment
 * errors inside the suites come back separately: they make the run exit 2.
 */
export async function runPhase(
  run: UpgradeRunOptions,
  session: Session,
  name: string,
): Promise<{ cases: CaseResult[]; environmentErrors: string[] }> {
  const { options } = run;
  const outcome = await runSuites({
    run: session.context,
    suites: options.suites.map((suite) => findSuite(suite)).filter((s) => s !== undefined),
    junitPath: path.join(run.runDir, `junit-${name}.xml`),
    parallel: options.parallel,
    signal: run.signal,
    log: run.say,
    verbose: options.verbose,
  });
  run.say(
    `phase ${name}: ${outcome.passed} passed, ${outcome.failed} failed, ${outcome.skipped} skipped`,
  );
  return {
    cases: outcome.cases.map((entry) => ({ ...entry, name: `[${name}] ${entry.name}` })),
    environmentErrors: outcome.environmentErrors,
  };
}

/** Deletes the probe namespaces of run `runId` and waits until they are gone (errors ignored). */
export async function deleteProbeNamespaces(
  session: Session,
  runId: string,
  namespaces: readonly string[],
): Promise<void> {
  await Promise.all(
    namespaces.map((name) =>
      deleteNamespaceAndWait(session.kube, {
        name,
        runId,
        timeoutMs: session.timeouts.deletion,
      }).catch(() => {}),
    ),
  );
}
