/**
 * How the Kubernetes API server refuses work it cannot take, and how its own Go client
 * retries: the product's retry policy (harness/k8s/retry.ts) and the simulated API
 * server's `api-flaky` fault (simulator/api/faults.ts) both read these constants.
 */

/**
 * The `Retry-After` the API server sends with a 429, in seconds. The max-in-flight and
 * priority-and-fairness filters answer 429 before the request reaches its handler, so a
 * request refused with 429 had no effect and any verb may be sent again.
 * Source: kubernetes/kubernetes `staging/src/k8s.io/apiserver/pkg/server/filters/maxinflight.go`
 * (`retryAfter = "1"`, `tooManyRequests` sets the header and answers 429 instead of calling the
 * handler). Holds for: 1.20–1.36 (the constant predates APF and is unchanged since).
 */
export const THROTTLE_RETRY_AFTER_SECONDS = 1;

/**
 * The statuses client-go waits on before sending a request again: 429 and every 5xx, when
 * the answer carries `Retry-After` (`checkWait`); a retryable connection error counts as a
 * 500 with `Retry-After: 1` (`retryAfterResponse`). The harness retries the same statuses for
 * its idempotent requests, with or without the header (a proxy in front of the API server
 * may drop it).
 * Source: kubernetes/kubernetes `staging/src/k8s.io/client-go/rest/with_retry.go`
 * (`checkWait`, `retryAfterResponse`). Holds for: client-go 0.23–0.36.
 */
export const RETRIED_STATUSES: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);

/**
 * Requests whose only effect is the answer: the review kinds are POSTed but stored nowhere
 * (`SelfSubjectAccessReview`, `SelfSubjectRulesReview`, `SubjectAccessReview`,
 * `LocalSubjectAccessReview`, `TokenReview`, `SelfSubjectReview`), so sending one again
 * cannot double anything.
 * Source: kubernetes/kubernetes `pkg/registry/authorization/*` and
 * `pkg/registry/authentication/*` (REST storage implementing only `Create`, returning the
 * evaluated object without persisting it). Holds for: 1.28–1.36.
 */
export const NON_PERSISTED_REVIEW_RESOURCE =
  /\/(selfsubjectaccessreviews|selfsubjectrulesreviews|subjectaccessreviews|localsubjectaccessreviews|tokenreviews|selfsubjectreviews)$/;
