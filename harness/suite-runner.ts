/**
 * Binds a suite value to vitest: one `describe` per selected variant, the setup as its
 * `beforeAll`, each stage as a nested `describe` whose `beforeAll` applies it, each case as
 * an `it`, and B6 (cleanup) as the file's last test. The case's behaviour, variant and
 * convergence figures go into the task's meta, which the reports read; nothing is parsed
 * back from titles.
 */
import { afterAll, beforeAll, beforeEach, describe, inject, it } from 'vitest';
import { collectDiagnostics } from './diagnostics.ts';
import { setApiStep } from './k8s/retry.ts';
import type { RunContext } from './run-context.ts';
import { SuiteEnvironment, verifyCleanup } from './suite.ts';
import {
  caseId,
  caseTitle,
  isCase,
  selectedVariants,
  type BehaviourId,
  type Step,
  type Suite,
} from './suite-definition.ts';
import { variantLabel, type Variant } from './variants.ts';
import { apiVariant } from './api/index.ts';

// This module runs in vitest's fork workers. A signal sent to the whole process group (Ctrl-C,
// a runner stopping the job) reaches them too, and by default would end a worker before its
// afterAll cleanup: the CLI in the parent process owns cancelling (it cancels the vitest run,
// whose cleanup hooks then run here), so a worker only takes note.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  if (process.listenerCount(signal) === 0) process.on(signal, () => undefined);
}

/** What the harness records on each test for the reports (vitest task meta). */
export interface EgressMeta {
  behaviour?: BehaviourId;
  /** The variant the test ran in, as `variantLabel` prints it. */
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

declare module 'vitest' {
  interface TaskMeta {
    egress?: EgressMeta;
  }
}

/** The run context the CLI handed to this vitest worker. */
export function runContext(): RunContext {
  return inject('run');
}

/** Declares a suite's tests in the calling suite file (suites/<name>.test.ts). */
export function declareSuite<Name extends string, Id extends string, State>(
  suite: Suite<Name, Id, State>,
): void {
  const run = runContext();
  const environments: SuiteEnvironment[] = [];
  for (const variant of selectedVariants(suite, run)) {
    const noForm = apiVariant(variant.api).noFormFor(suite.name, variant);
    if (noForm !== undefined) {
      declareNotApplicable(suite, variant, noForm);
      continue;
    }
    describe(`${suite.name} [${variantLabel(variant)}]`, () => {
      const env = new SuiteEnvironment(run, suite.name, variant);
      environments.push(env);
      installHooks(env, variant);
      const holder: { state?: State } = {};
      beforeAll(async () => {
        setApiStep(`the setup of ${suite.name} [${variantLabel(variant)}]`);
        holder.state = await suite.setup({ env, variant });
      });
      declareSteps(suite.steps, { env, variant, behaviour: suite.behaviour(variant), holder });
    });
  }
  it('B6 cleanup: every namespace the suite created is gone and borrowed labels are restored', async (ctx) => {
    setApiStep(`${suite.name} B6 (cleanup check)`);
    // B6 covers every variant the suite ran: its axes list them all.
    const axis = (values: string[]) => [...new Set(values)].join(',');
    ctx.task.meta.egress = {
      ...ctx.task.meta.egress,
      behaviour: 'B6',
      variant: 'every variant',
      mtls: axis(environments.map((env) => env.variant.mtls)),
      api: axis(environments.map((env) => env.variant.api)),
    };
    const report = await verifyCleanup(run, environments);
    ctx.task.meta.egress = { ...ctx.task.meta.egress, notes: report };
  });
}

/** A variant without a form in its API: every case reported as skipped with the reason, nothing applied. */
function declareNotApplicable<Name extends string, Id extends string, State>(
  suite: Suite<Name, Id, State>,
  variant: Variant,
  reason: string,
): void {
  const behaviour = suite.behaviour(variant);
  describe(`${suite.name} [${variantLabel(variant)}]`, () => {
    for (const step of suite.steps) {
      if (!isCase(step) || (step.inVariant && !step.inVariant(variant))) continue;
      it(caseTitle(behaviour, step), (ctx) => {
        ctx.task.meta.egress = {
          ...ctx.task.meta.egress,
          behaviour,
          variant: variantLabel(variant),
          mtls: variant.mtls,
          api: variant.api,
        };
        ctx.skip(`not applicable in ${variantLabel(variant)}: ${reason}`);
      });
    }
  });
}

interface Scope<State> {
  env: SuiteEnvironment;
  variant: Variant;
  behaviour: BehaviourId;
  holder: { state?: State };
}

/** Declares steps in order; a stage opens a nested block holding every step after it. */
function declareSteps<Id extends string, State>(
  steps: readonly Step<Id, State>[],
  scope: Scope<State>,
): void {
  const { env, variant, behaviour, holder } = scope;
  for (const [index, step] of steps.entries()) {
    if (!isCase(step)) {
      describe(step.stage, () => {
        beforeAll(async () => {
          setApiStep(`${env.suite} [${variantLabel(variant)}] stage "${step.stage}"`);
          await step.apply({ env, variant, state: holder.state as State });
        });
        declareSteps(steps.slice(index + 1), scope);
      });
      return;
    }
    if (step.inVariant && !step.inVariant(variant)) continue;
    const applies = step.applies?.(variant) ?? true;
    it(caseTitle(behaviour, step), async (ctx) => {
      ctx.task.meta.egress = { ...ctx.task.meta.egress, behaviour };
      if (applies !== true) ctx.skip(`not applicable in ${variantLabel(variant)}: ${applies}`);
      await step.run({
        env,
        variant,
        state: holder.state as State,
        caseId: caseId(behaviour, step.id),
        skip: (reason) => {
          ctx.skip(reason);
          throw new Error('unreachable: ctx.skip throws');
        },
        note: (evidence) => {
          ctx.task.meta.egress = { ...ctx.task.meta.egress, notes: evidence };
        },
      });
    });
  }
}

function installHooks(env: SuiteEnvironment, variant: Variant): void {
  beforeEach((ctx) => {
    setApiStep(`${env.suite} [${variantLabel(variant)}] › ${ctx.task.name}`);
    env.convergence.length = 0;
    const testStartedAt = new Date();
    ctx.task.meta.egress = {
      ...ctx.task.meta.egress,
      variant: variantLabel(variant),
      mtls: variant.mtls,
      api: variant.api,
    };
    ctx.onTestFinished(() => {
      const convergence = env.convergence.splice(0);
      if (convergence.length === 0) return;
      ctx.task.meta.egress = {
        ...ctx.task.meta.egress,
        convergence,
        flaky: convergence.some((entry) => entry.flips > 0),
      };
    });
    ctx.onTestFailed(async () => {
      env.keepNamespaces(env.createdNamespaces);
      const files = await collectDiagnostics(env, ctx.task.name, {
        since: testStartedAt,
        ...(env.run.istioctlPath ? { istioctl: env.run.istioctlPath } : {}),
      }).catch((error: unknown) => [
        `diagnostics could not be collected: ${error instanceof Error ? error.message : String(error)}`,
      ]);
      ctx.task.meta.egress = {
        ...ctx.task.meta.egress,
        diagnostics: files,
        ...(env.keptNamespaces.length > 0 ? { kept: env.keptNamespaces } : {}),
      };
    });
  });
  // One variant's config is gone before the next starts: two variants' VirtualServices
  // for the same host would otherwise both bind to the mesh.
  afterAll(async () => {
    setApiStep(`the cleanup of ${env.suite} [${variantLabel(variant)}]`);
    await env.cleanup();
  });
}
