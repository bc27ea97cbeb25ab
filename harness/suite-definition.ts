/**
 * A conformance suite as a value (the model is Gateway API conformance's
 * `ConformanceTest`): its name, one-sentence description, the behaviours it certifies,
 * the variants it has, and its steps. Importing one starts nothing; `--list`, the runner,
 * the reports and the fault matrix all read the same values from suites/index.ts.
 */
import type { SuiteEnvironment } from './suite.ts';
import type { ApiName, MtlsMode, Variant } from './variants.ts';

/** The behaviours of docs/behaviours.md. */
export type BehaviourId = 'B1' | 'B2' | 'B3' | 'B4' | 'B5' | 'B6' | 'B7';

/** What a step sees: the variant's environment and the state its setup returned. */
export interface StepContext<State> {
  env: SuiteEnvironment;
  variant: Variant;
  state: State;
  /** `B3.1`: the behaviour and case, as checks name it in their failures. */
  caseId: string;
  /** Ends the case as skipped with a reason (e.g. a counter the mesh does not expose). */
  skip: (reason: string) => never;
  /** Adds evidence to the case's report (e.g. the counter values a check read). */
  note: (evidence: unknown) => void;
}

/** One test case: one piece of evidence of one behaviour. */
export interface CaseSpec<Id extends string, State> {
  /** Stable within the suite: `control`, `1`, `2-4`. Reports name the case `<behaviour>.<id>`. */
  id: Id;
  /** One sentence saying what holds, e.g. "the gateway logs the request with …". */
  title: string;
  /** The variants the case exists in (B2.4 only with mTLS); all when absent. */
  inVariant?: (variant: Variant) => boolean;
  /** When the case does not apply to a variant, the reason (reported as skipped with it). */
  applies?: (variant: Variant) => true | string;
  run(context: StepContext<State>): Promise<void>;
}

/** Configuration applied between cases: later cases see it, earlier ones did not. */
export interface StageSpec<State> {
  stage: string;
  apply(context: Omit<StepContext<State>, 'caseId' | 'skip' | 'note'>): Promise<void>;
}

export type Step<Id extends string, State> = CaseSpec<Id, State> | StageSpec<State>;

/** The variants a suite has, per axis. */
export interface SuiteVariants {
  /**
   * The mTLS modes the suite has a form for. A suite whose configuration does not change
   * with mTLS lists one mode and runs in it whatever `--mtls` selects.
   */
  mtls: readonly MtlsMode[];
  api: readonly ApiName[];
}

/** A suite, as written in suites/<name>.ts. */
export interface SuiteSpec<Name extends string, Id extends string, State> {
  name: Name;
  description: string;
  /** Every behaviour the suite certifies, B6 (cleanup) included: the runner adds its case. */
  behaviours: readonly BehaviourId[];
  variants: SuiteVariants;
  /** The behaviour a variant's cases certify (B1 without mTLS, B2 with it). */
  behaviour: (variant: Variant) => BehaviourId;
  /** Namespaces, clients and configuration the first case needs. */
  setup(context: { env: SuiteEnvironment; variant: Variant }): Promise<State>;
  steps: readonly Step<Id, State>[];
}

/** A suite value: the spec plus what every reader derives from it. */
export interface Suite<
  Name extends string = string,
  Id extends string = string,
  State = unknown,
> extends SuiteSpec<Name, Id, State> {
  /** The case ids, in order (the fault matrix and reports are typed against them). */
  readonly caseIds: readonly Id[];
}

/** Declares a suite. Type parameters are inferred so that case ids are literal types. */
export function defineSuite<const Name extends string, const Id extends string, State>(
  spec: SuiteSpec<Name, Id, State>,
): Suite<Name, Id, State> {
  const ids = spec.steps.filter(isCase).map((step) => step.id);
  const duplicate = ids.find((id, index) => ids.indexOf(id) !== index);
  if (duplicate) throw new Error(`suite ${spec.name}: case id ${duplicate} is used twice`);
  return { ...spec, caseIds: ids };
}

export function isCase<Id extends string, State>(
  step: Step<Id, State>,
): step is CaseSpec<Id, State> {
  return 'id' in step;
}

/** The case's id as reports print it: `B3.1`, `B3.control`. */
export function caseId(behaviour: BehaviourId, id: string): string {
  return `${behaviour}.${id}`;
}

/**
 * The case's title as JUnit names it. Kept as before the suites became values, because
 * CI systems track a case's history by its name.
 */
export function caseTitle(behaviour: BehaviourId, spec: { id: string; title: string }): string {
  return spec.id === 'control'
    ? `${behaviour} negative control: ${spec.title}`
    : `${behaviour}.${spec.id} ${spec.title}`;
}

/** The variants of a suite that a run selects: the product of the axes. */
export function selectedVariants(
  suite: Pick<Suite, 'variants'>,
  selection: { mtlsModes: readonly MtlsMode[]; apis: readonly ApiName[] },
): Variant[] {
  const mtls = suite.variants.mtls.filter((mode) => selection.mtlsModes.includes(mode));
  // A suite with one mTLS form runs in it whatever --mtls selects (its config has no other).
  const modes = suite.variants.mtls.length === 1 ? [...suite.variants.mtls] : mtls;
  const apis = suite.variants.api.filter((api) => selection.apis.includes(api));
  return apis.flatMap((api) => modes.map((mode) => ({ mtls: mode, api })));
}
