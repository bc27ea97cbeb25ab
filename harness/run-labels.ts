/**
 * The marks a run leaves on what it touches, in a module without dependencies so that the
 * CLI can name them (e.g. in the message of a second Ctrl-C) without loading the
 * Kubernetes client at startup.
 */

/**
 * The field manager of every object this harness applies (server-side apply); also how its
 * objects are recognised. The stand-in istioctl applies under the same name.
 */
export const FIELD_MANAGER = 'egress-conformance';

/** Label on every namespace a run creates; its value is the run id. */
export const RUN_LABEL = 'egress-conformance.io/run';

/** Marks a shared namespace whose labels a run has borrowed; its value is the run id. */
export const SHARED_LOCK_ANNOTATION = 'egress-conformance.io/labels-borrowed-by';

/**
 * The lock record on a shared namespace whose labels a run has borrowed (JSON): who holds it
 * (run id, host, pid, since when, last renewal) and the values the borrowed keys had before,
 * so that whoever takes over a stale lock can put them back.
 */
export const SHARED_LOCK_HOLDER_ANNOTATION = 'egress-conformance.io/labels-lock';
