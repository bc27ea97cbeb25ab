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

/** A documented behaviour did not hold; the message carries the evidence and a hint. */
export class ConformanceFailure extends Error {
  override name = 'ConformanceFailure';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export const EXIT_PASSED = 0;
export const EXIT_CONFORMANCE_FAILURE = 1;
export const EXIT_ENVIRONMENT_ERROR = 2;
