/**
 * Runs a suite value in this process: per selected variant its setup, each stage before the
 * cases after it, each case, and the variant's cleanup; B6 (cleanup) last. Each case and each
 * hook is bounded by a backstop timeout above its own waits; a failed case gets diagnostics.
 * Every outcome is a {@link CaseResult}, which the console, JUnit and conformance reports read;
 * nothing is parsed back from titles.
 *
 * The CLI used to hand the suite files to vitest, which ran them in a worker process: each run
 * paid for a second process loading the Kubernetes client and the harness (about 1.3 s of CPU)
 * and for vitest's own start (0.5 s), for nothing a conformance run needs. Vitest stays the
 * project's test framework.
 */
import { collectDiagnostics } from './diagnostics.ts';
import { failureFields } from './errors.ts';
import { setApiStep, withApiStepScope } from './k8s/retry.ts';
import type { RunContext } from './run-context.ts';
import { SuiteEnvironment, verifyCleanup } from './suite.ts';
import {
  caseId,
  caseTitle,
  isCase,
  selectedVariants,
  type BehaviourId,
  type CaseSpec,
  type Step,
  type Suite,
} from './suite-definition.ts';
import { variantLabel, type Variant } from './variants.ts';
import { apiVariant } from './api/index.ts';
import { diagnosticsFolder, type CaseResult } from './reporting/junit.ts';
import { WaitInterruptedError, interruptibleBy } from './wait.ts';

/** What the harness records on each case for the reports. */
export interface EgressMeta {
  behaviour?: BehaviourId;
  /** The variant the case ran in, as `variantLabel` prints it. */
  variant?: string;
  mtls?: string;
  api?: string;
  convergence?: { behaviour: string; observations: number; flips: number; elapsedMs: number }[];
  /** Passed only after an agreeing streak was broken: reported as flaky. */
  flaky?: boolean;
  /** Files collected on failure, relative to the reports folder. */
  diagnostics?: string[];
  /** Namespaces kept for debugging. */
  kept?: string[];
  notes?: unknown;
}

/** The title of the last case of every suite. */
export const B6_TITLE =
  'B6 cleanup: every namespace the suite created is gone and borrowed labels are restored';

/** How a suite is executed. */
export interface ExecuteOptions {
  run: RunContext;
  /**
   * Aborted on SIGINT/SIGTERM: no further case or stage starts, and the waits of the case,
   * setup or stage in progress end at their next observation; cleanup still runs.
   */
  signal: AbortSignal;
  /** The backstop above a case's own waits. */
  testTimeoutMs: number;
  /** The backstop above a setup's, stage's or cleanup's own waits. */
  hookTimeoutMs: number;
  /** Called as each case finishes. */
  onCase?: (entry: CaseResult) => void;
  /** Called as a setup, stage or cleanup fails, with the entry that reports it. */
  onBlockFailed?: (entry: CaseResult) => void;
  /** What reaches the cluster, replaced in the executor's unit tests. */
  seams?: Partial<ClusterSeams>;
}

/** The executor's calls that reach a cluster. */
export interface ClusterSeams {
  environment: (
    run: RunContext,
    suite: string,
    variant: Variant,
    behaviour: BehaviourId,
  ) => SuiteEnvironment;
  verifyCleanup: typeof verifyCleanup;
  collectDiagnostics: typeof collectDiagnostics;
}

const CLUSTER: ClusterSeams = {
  environment: (run, suite, variant, behaviour) =>
    new SuiteEnvironment(run, suite, variant, behaviour),
  verifyCleanup,
  collectDiagnostics,
};

/** Thrown by a case's `skip`: the case is reported as skipped with the reason. */
class CaseSkipped extends Error {
  override name = 'CaseSkipped';
}

/** Why a case did not start although it was selected. */
const INTERRUPTED = 'interrupted: the run was cancelled before this case started';
const interruptedDuring = (error: WaitInterruptedError): string =>
  `interrupted: the run was cancelled during this case, while waiting for ${error.what}`;
const BLOCKED = 'not run: the setup or a stage before it failed';

/** Runs `suite` in every variant the run selects; its results in declaration order. */
export function executeSuite(suite: Suite, options: ExecuteOptions): Promise<CaseResult[]> {
  // Suites run concurrently in one process: each names its own step in API-outage messages.
  return withApiStepScope(() => new SuiteExecution(suite, options).execute());
}

class SuiteExecution {
  private readonly cases: CaseResult[] = [];
  private readonly hookFailures = new Map<string, CaseResult>();
  private readonly environments: SuiteEnvironment[] = [];

  private readonly suite: Suite;
  private readonly options: ExecuteOptions;
  private readonly cluster: ClusterSeams;

  constructor(suite: Suite, options: ExecuteOptions) {
    this.suite = suite;
    this.options = options;
    this.cluster = { ...CLUSTER, ...options.seams };
  }

  async execute(): Promise<CaseResult[]> {
    const { run } = this.options;
    for (const variant of selectedVariants(this.suite, run)) {
      const noForm = apiVariant(variant.api).noFormFor(this.suite.name, variant);
      if (noForm !== undefined) {
        this.skipVariant(variant, `not applicable in ${variantLabel(variant)}: ${noForm}`);
      } else if (this.options.signal.aborted) {
        this.skipVariant(variant, INTERRUPTED);
      } else {
        await this.runVariant(variant);
      }
    }
    // An API the cluster cannot run (e.g. no Gateway API CRDs): its cases say so in every report.
    for (const { api, reason } of run.skippedApis ?? []) {
      for (const variant of selectedVariants(this.suite, {
        mtlsModes: run.mtlsModes,
        apis: [api],
      })) {
        this.skipVariant(variant, `skipped in ${variantLabel(variant)}: ${reason}`);
      }
    }
    await this.cleanupCheck();
    return [...this.cases, ...this.hookFailures.values()];
  }

  /** Every case of a variant that cannot run, reported as skipped with `reason`, nothing applied. */
  private skipVariant(variant: Variant, reason: string): void {
    // Not nested in its stages: nothing of the variant ran, so none of its stages did either.
    this.skipSteps(this.suite.steps, variant, [groupName(this.suite, variant)], reason, false);
  }

  private async runVariant(variant: Variant): Promise<void> {
    const group = groupName(this.suite, variant);
    const label = variantLabel(variant);
    const behaviour = this.suite.behaviour(variant);
    let env: SuiteEnvironment;
    try {
      env = this.cluster.environment(this.options.run, this.suite.name, variant, behaviour);
    } catch (error) {
      this.hookFailed([group], variant, error);
      this.skipSteps(this.suite.steps, variant, [group], BLOCKED);
      return;
    }
    this.environments.push(env);
    const holder: { state?: unknown } = {};
    const setupFailed = await this.hook(
      [group],
      variant,
      `the setup of ${group}`,
      async () => {
        holder.state = await this.suite.setup({ env, variant });
      },
      { interruptible: true },
    );
    await this.runSteps(
      this.suite.steps,
      { env, variant, behaviour, holder },
      [group],
      setupFailed,
    );
    // One variant's config is gone before the next starts: two variants' VirtualServices for
    // the same host would otherwise both bind to the mesh.
    await this.hook([group], variant, `the cleanup of ${env.suite} [${label}]`, async () => {
      await env.cleanup();
    });
  }

  /** Steps in order; a stage is applied before every step after it. */
  private async runSteps(
    steps: readonly Step<string, unknown>[],
    scope: Scope,
    path: string[],
    blocked: boolean,
  ): Promise<void> {
    for (const [index, step] of steps.entries()) {
      if (!isCase(step)) {
        const stagePath = [...path, step.stage];
        let stageBlocked = blocked;
        if (!blocked && !this.options.signal.aborted) {
          stageBlocked = await this.hook(
            stagePath,
            scope.variant,
            `${scope.env.suite} [${variantLabel(scope.variant)}] stage "${step.stage}"`,
            () => step.apply({ env: scope.env, variant: scope.variant, state: scope.holder.state }),
            { interruptible: true },
          );
        }
        await this.runSteps(steps.slice(index + 1), scope, stagePath, stageBlocked);
        return;
      }
      if (step.inVariant && !step.inVariant(scope.variant)) continue;
      await this.runCase(step, scope, path, blocked);
    }
  }

  /**
   * The cases among `steps` reported as skipped with `reason`; `nested`: each under the stages
   * before it, as they would have run (a failed setup or stage blocked them).
   */
  private skipSteps(
    steps: readonly Step<string, unknown>[],
    variant: Variant,
    path: string[],
    reason: string,
    nested = true,
  ): void {
    const behaviour = this.suite.behaviour(variant);
    for (const step of steps) {
      if (!isCase(step)) {
        if (nested) path = [...path, step.stage];
        continue;
      }
      if (step.inVariant && !step.inVariant(variant)) continue;
      this.record({
        ...this.base(path.join(' › '), caseTitle(behaviour, step)),
        state: 'skipped',
        skipReason: reason,
        meta: { behaviour, ...variantMeta(variant) },
      });
    }
  }

  private async runCase(
    step: CaseSpec<string, unknown>,
    { env, variant, behaviour, holder }: Scope,
    path: string[],
    blocked: boolean,
  ): Promise<void> {
    const title = caseTitle(behaviour, step);
    const meta: EgressMeta = { ...variantMeta(variant), behaviour };
    const entry = (): Omit<CaseResult, 'state'> => ({
      ...this.base(path.join(' › '), title),
      meta,
    });
    if (blocked || this.options.signal.aborted) {
      // Interrupted wins: a setup cut short by the signal did not fail.
      const skipReason = this.options.signal.aborted ? INTERRUPTED : BLOCKED;
      this.record({ ...entry(), state: 'skipped', skipReason });
      return;
    }
    setApiStep(`${env.suite} [${variantLabel(variant)}] › ${title}`);
    env.convergence.length = 0;
    const startedAt = new Date();
    const applies = step.applies?.(variant) ?? true;
    let outcome: Outcome;
    try {
      if (applies !== true) {
        throw new CaseSkipped(`not applicable in ${variantLabel(variant)}: ${applies}`);
      }
      await bounded(this.options.testTimeoutMs, `the case "${title}"`, () =>
        interruptibleBy(this.options.signal, () =>
          step.run({
            env,
            variant,
            state: holder.state,
            caseId: caseId(behaviour, step.id),
            skip: (reason) => {
              throw new CaseSkipped(reason);
            },
            note: (evidence) => {
              meta.notes = evidence;
            },
          }),
        ),
      );
      outcome = { state: 'passed' };
    } catch (error) {
      outcome =
        error instanceof CaseSkipped
          ? { state: 'skipped', reason: error.message }
          : error instanceof WaitInterruptedError
            ? { state: 'skipped', reason: interruptedDuring(error) }
            : { state: 'failed', error };
    }
    const durationMs = Date.now() - startedAt.getTime();
    const convergence = env.convergence.splice(0);
    if (convergence.length > 0) {
      meta.convergence = convergence;
      meta.flaky = convergence.some((observed) => observed.flips > 0);
    }
    if (outcome.state === 'skipped') {
      this.record({ ...entry(), durationMs, state: 'skipped', skipReason: outcome.reason });
      return;
    }
    if (outcome.state === 'passed') {
      this.record({ ...entry(), durationMs, state: 'passed' });
      return;
    }
    env.keepNamespaces(env.createdNamespaces);
    meta.diagnostics = await this.cluster
      .collectDiagnostics(env, title, {
        since: startedAt,
        ...(this.options.run.istioctlPath ? { istioctl: this.options.run.istioctlPath } : {}),
      })
      .catch((error: unknown) => [`diagnostics could not be collected: ${errorText(error)}`]);
    if (env.keptNamespaces.length > 0) meta.kept = env.keptNamespaces;
    this.record({ ...entry(), durationMs, ...failedFields(outcome.error, meta.diagnostics) });
  }

  /** B6, over every variant the suite ran; skipped when the run was interrupted. */
  private async cleanupCheck(): Promise<void> {
    const axis = (values: string[]): string => [...new Set(values)].join(',');
    const meta: EgressMeta = {
      behaviour: 'B6',
      variant: 'every variant',
      mtls: axis(this.environments.map((env) => env.variant.mtls)),
      api: axis(this.environments.map((env) => env.variant.api)),
    };
    const entry = { ...this.base(this.suite.name, B6_TITLE), meta };
    if (this.options.signal.aborted) {
      this.record({ ...entry, state: 'skipped', skipReason: INTERRUPTED });
      return;
    }
    setApiStep(`${this.suite.name} B6 (cleanup check)`);
    const startedAt = Date.now();
    try {
      const report = await bounded(this.options.testTimeoutMs, 'the B6 check', () =>
        this.cluster.verifyCleanup(this.options.run, this.environments),
      );
      meta.notes = report;
      this.record({ ...entry, durationMs: Date.now() - startedAt, state: 'passed' });
    } catch (error) {
      this.record({
        ...entry,
        durationMs: Date.now() - startedAt,
        ...failedFields(error, undefined),
      });
    }
  }

  /**
   * Runs a setup, stage or cleanup; a failure is reported once per block (on its path) and
   * returns true. `interruptible`: its waits end once the run is interrupted (setup and
   * stages; never cleanup, whose waits for deletion must finish).
   */
  private async hook(
    path: string[],
    variant: Variant,
    step: string,
    action: () => Promise<unknown>,
    { interruptible = false }: { interruptible?: boolean } = {},
  ): Promise<boolean> {
    setApiStep(step);
    const { signal } = this.options;
    try {
      await bounded(this.options.hookTimeoutMs, step, () =>
        interruptible ? interruptibleBy(signal, action) : action(),
      );
      return false;
    } catch (error) {
      // Cut short by the signal: not a failure; the cases it blocks say they were interrupted.
      if (!(error instanceof WaitInterruptedError)) this.hookFailed(path, variant, error);
      return true;
    }
  }

  private hookFailed(path: string[], variant: Variant, error: unknown): void {
    const group = path.join(' › ');
    const earlier = this.hookFailures.get(group);
    const failed = failedFields(error, undefined);
    const entry: CaseResult = earlier
      ? { ...earlier, message: `${earlier.message ?? ''}\n${failed.message ?? ''}` }
      : {
          ...this.base(group, `setup or cleanup of "${path.at(-1) ?? group}"`),
          ...failed,
          meta: variantMeta(variant),
        };
    this.hookFailures.set(group, entry);
    this.options.onBlockFailed?.(entry);
  }

  private base(group: string, name: string): Omit<CaseResult, 'state'> {
    return { suite: this.suite.name, group, name, durationMs: 0, meta: {} };
  }

  private record(entry: CaseResult): void {
    this.cases.push(entry);
    this.options.onCase?.(entry);
  }
}

interface Scope {
  env: SuiteEnvironment;
  variant: Variant;
  behaviour: BehaviourId;
  holder: { state?: unknown };
}

type Outcome =
  { state: 'passed' } | { state: 'skipped'; reason: string } | { state: 'failed'; error: unknown };

/** A variant's block: `passthrough [mtls disabled, istio-api]`. */
function groupName(suite: Pick<Suite, 'name'>, variant: Variant): string {
  return `${suite.name} [${variantLabel(variant)}]`;
}

/** How a case or block records its variant for the reports. */
function variantMeta(variant: Variant): EgressMeta {
  return { variant: variantLabel(variant), mtls: variant.mtls, api: variant.api };
}

/** A failed outcome's fields: the message, the error's class, a conformance failure's fields. */
function failedFields(
  error: unknown,
  diagnostics: readonly string[] | undefined,
): Pick<CaseResult, 'state' | 'message' | 'errorName' | 'failure' | 'stack'> {
  const failure = failureFields(error);
  const folder = diagnosticsFolder(diagnostics);
  return {
    state: 'failed',
    message: errorText(error),
    errorName: error instanceof Error ? error.name : 'Error',
    ...(failure ? { failure: folder ? { ...failure, diagnostics: folder } : failure } : {}),
    ...(error instanceof Error && error.stack ? { stack: stackText(error) } : {}),
  };
}

/** The stack, then each cause's (for `--verbose`). */
function stackText(error: Error): string {
  const parts = [error.stack ?? `${error.name}: ${error.message}`];
  for (let cause = error.cause, depth = 0; cause !== undefined && depth < 5; depth += 1) {
    parts.push(
      `Caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : JSON.stringify(cause)}`,
    );
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return parts.join('\n');
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `action`, failing after `ms` if it has not settled (a backstop: the waits inside have their own). */
async function bounded<T>(ms: number, what: string, action: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const backstop = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`${what} did not finish within ${ms} ms (the backstop above its own waits)`),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([action(), backstop]);
  } finally {
    clearTimeout(timer);
  }
}
