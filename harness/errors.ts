/**
 * The two ways a run can go wrong, kept apart because they need different people:
 * an environment error (exit 2) is for whoever set up the machine or cluster, a
 * conformance failure (exit 1) is for whoever owns the mesh.
 */

/** Something the run needs is missing or misconfigured; `message` is one sentence with the fix. */
export class EnvironmentError extends Error {
  override name = 'EnvironmentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * What a {@link ConformanceFailure} knows, field by field: the reports read these, never
 * the message. A convergence sets `required` and `budgetMs`; a one-shot check does not.
 */
export interface FailureFields {
  /** The behaviour that did not hold, e.g. `B3.1`. */
  behaviour: string;
  /** What should have held: "TLS from ns/pod to HOST to end at the external host". */
  expected: string;
  /** Why the last observation does not show it. */
  reason: string;
  /** The last observation, described. */
  observed: string;
  /** What to check next. */
  hint: string;
  /** Observations made, agreeing or not. */
  observations: number;
  /** How long the check observed. */
  elapsedMs: number;
  /** The wait's budget (the named timeout); absent for a one-shot check. */
  budgetMs?: number;
  /** Consecutive agreeing observations asked for; absent for a one-shot check. */
  required?: number;
  /** Agreeing streaks broken by a disagreeing observation. */
  flips?: number;
  /** Where the diagnostics of the failed test are, relative to the reports folder (set after collection). */
  diagnostics?: string;
}

/**
 * The message of a failure, derived from its fields (execa's `lib/return/final-error.js`
 * model): `[B3.1] Expected … in 3 consecutive observations within N ms, but after K
 * observations (M ms) it did not hold: <reason>.`, then `Last observation: …` and `Hint: …`.
 */
export function renderFailure(
  fields: Omit<FailureFields, 'behaviour'> & { behaviour?: string },
): string {
  const { behaviour, expected, reason, observed, hint, required, budgetMs } = fields;
  const label = behaviour ? `[${behaviour}] ` : '';
  const headline =
    required !== undefined && budgetMs !== undefined
      ? `${label}Expected ${expected} in ${required} consecutive observations within ${budgetMs} ms, ` +
        `but after ${fields.observations} observations (${fields.elapsedMs} ms) it did not hold: ${reason}.`
      : `${label}Expected ${expected}, but it did not hold: ${reason}.`;
  return [
    headline,
    // A list of observed problems starts on its own line.
    `Last observation:${observed.startsWith('\n') ? '' : ' '}${observed}`,
    `Hint: ${hint}`,
    ...(fields.diagnostics ? [`Diagnostics: ${fields.diagnostics}`] : []),
  ].join('\n');
}

/**
 * A documented behaviour did not hold. Its fields carry the evidence and a hint, and
 * survive vitest's error serialisation as own properties; the message is rendered from them.
 */
export class ConformanceFailure extends Error implements FailureFields {
  override name = 'ConformanceFailure';
  readonly behaviour: string;
  readonly expected: string;
  readonly reason: string;
  readonly observed: string;
  readonly hint: string;
  readonly observations: number;
  readonly elapsedMs: number;
  readonly budgetMs: number | undefined;
  readonly required: number | undefined;
  readonly flips: number | undefined;
  readonly diagnostics: string | undefined;

  constructor(fields: FailureFields, options?: { cause?: unknown }) {
    super(renderFailure(fields), options);
    this.behaviour = fields.behaviour;
    this.expected = fields.expected;
    this.reason = fields.reason;
    this.observed = fields.observed;
    this.hint = fields.hint;
    this.observations = fields.observations;
    this.elapsedMs = fields.elapsedMs;
    this.budgetMs = fields.budgetMs;
    this.required = fields.required;
    this.flips = fields.flips;
    this.diagnostics = fields.diagnostics;
  }
}

/**
 * The fields of a conformance failure, read from the error itself or from the plain
 * object vitest made of it in a worker; undefined for any other error.
 */
export function failureFields(error: unknown): FailureFields | undefined {
  if (!error || typeof error !== 'object') return undefined;
  const candidate = error as Record<string, unknown>;
  const texts = ['behaviour', 'expected', 'reason', 'observed', 'hint'] as const;
  if (candidate.name !== 'ConformanceFailure') return undefined;
  if (!texts.every((key) => typeof candidate[key] === 'string')) return undefined;
  if (typeof candidate.observations !== 'number' || typeof candidate.elapsedMs !== 'number') {
    return undefined;
  }
  const optionalNumber = (key: string): number | undefined => {
    const value = candidate[key];
    return typeof value === 'number' ? value : undefined;
  };
  const fields: FailureFields = {
    behaviour: candidate.behaviour as string,
    expected: candidate.expected as string,
    reason: candidate.reason as string,
    observed: candidate.observed as string,
    hint: candidate.hint as string,
    observations: candidate.observations,
    elapsedMs: candidate.elapsedMs,
  };
  const budgetMs = optionalNumber('budgetMs');
  const required = optionalNumber('required');
  const flips = optionalNumber('flips');
  if (budgetMs !== undefined) fields.budgetMs = budgetMs;
  if (required !== undefined) fields.required = required;
  if (flips !== undefined) fields.flips = flips;
  if (typeof candidate.diagnostics === 'string') fields.diagnostics = candidate.diagnostics;
  return fields;
}

export const EXIT_PASSED = 0;
export const EXIT_CONFORMANCE_FAILURE = 1;
export const EXIT_ENVIRONMENT_ERROR = 2;
