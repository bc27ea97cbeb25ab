/**
 * The HTTP layer under client-node's generated API clients, bounded and retried: each
 * attempt reads the whole answer within `apiRequest` (a body that stalls or breaks off
 * fails the attempt instead of hanging or truncating), and failures are retried as
 * harness/k8s/retry.ts decides. Every typed client of a {@link Kube} sends through here.
 */
import {
  IsomorphicFetchHttpLibrary,
  ResponseContext,
  ServerConfiguration,
  createConfiguration,
  wrapHttpLibrary,
  type KubeConfig,
  type RequestContext,
} from '@kubernetes/client-node';
import {
  AttemptTimeoutError,
  requestIdempotency,
  retryAfterMs,
  statusVerdict,
  transportVerdict,
  withApiRetries,
  type ApiRetryPolicy,
  type AttemptVerdict,
} from './retry.ts';

/** An answer with a status the policy may retry; carries the buffered answer. */
class StatusFailure extends Error {
  readonly response: ResponseContext;
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  constructor(response: ResponseContext) {
    super(`HTTP ${response.httpStatusCode}`);
    this.response = response;
    this.status = response.httpStatusCode;
    this.retryAfterMs = retryAfterMs(response.headers['retry-after']);
  }
}

/** Sends one request with the retry policy; answers as client-node's own library does. */
export async function sendBounded(
  inner: { send(request: RequestContext): { toPromise(): Promise<ResponseContext> } },
  request: RequestContext,
  { server, policy }: { server: string; policy: ApiRetryPolicy },
): Promise<ResponseContext> {
  const method = request.getHttpMethod().toString();
  const url = request.getUrl();
  const headers = request.getHeaders();
  const contentType = headers['Content-Type'] ?? headers['content-type'] ?? '';
  const idempotency = requestIdempotency(method, url, contentType);
  const what = `${method} ${new URL(url).pathname}`;
  return withApiRetries<ResponseContext>({
    server,
    policy,
    what,
    attempt: async (signal) => {
      request.setSignal(signal);
      const response = await inner.send(request).toPromise();
      // Read the whole body inside the attempt: its deadline then covers a stalled body, and
      // a connection dropped mid-body fails this attempt rather than a parser later.
      const body = await readAll(response.body.stream());
      const buffered = new ResponseContext(response.httpStatusCode, response.headers, {
        text: () => Promise.resolve(body.toString('utf8')),
        binary: () => Promise.resolve(body),
        stream: () => new Blob([body]).stream(),
      });
      if (isRetriedStatus(buffered)) throw new StatusFailure(buffered);
      return buffered;
    },
    judge: (error): AttemptVerdict => {
      if (error instanceof StatusFailure) {
        return statusVerdict(error.status, idempotency, error.retryAfterMs);
      }
      if (error instanceof AttemptTimeoutError || isTransportFailure(error)) {
        return transportVerdict(error, idempotency);
      }
      return { retry: false, unavailable: false };
    },
    // Retries ended on an answer (the last 500, or a status not to be retried for this verb):
    // hand it on, so the caller sees the server's own Status.
    settle: (error) => (error instanceof StatusFailure ? error.response : undefined),
  }).catch((error: unknown) => {
    if (isTransportFailure(error) || error instanceof AttemptTimeoutError) {
      // Not retried (it may have been acted on): say so, for callers that reconcile.
      throw new ApiOutcomeUnknownError(
        `${what} got no answer (${error instanceof Error ? error.message : String(error)}); it may or may not have taken effect`,
        { cause: error },
      );
    }
    throw error;
  });
}

async function readAll(stream: ReadableStream<Uint8Array> | null): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function isRetriedStatus(response: ResponseContext): boolean {
  return statusVerdict(response.httpStatusCode, 'idempotent').retry;
}

/** A request that was sent but got no answer, and was not sent again. */
export class ApiOutcomeUnknownError extends Error {
  override name = 'ApiOutcomeUnknownError';
}

/** undici's failures before or during an answer: "fetch failed", "terminated", socket errors. */
function isTransportFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'AbortError') return true;
  return (
    error instanceof TypeError &&
    /fetch failed|terminated|socket|network|other side closed/i.test(failureChain(error))
  );
}

function failureChain(error: Error): string {
  const parts: string[] = [];
  for (let at: unknown = error; at instanceof Error; at = (at as { cause?: unknown }).cause) {
    parts.push(at.message, (at as NodeJS.ErrnoException).code ?? '');
  }
  return parts.join(' ');
}

/**
 * Builds one of client-node's typed API clients sending through {@link sendBounded}, the
 * way `KubeConfig.makeApiClient` builds it (server, authentication), plus the policy.
 */
export function makeBoundedApiClient<T>(
  config: KubeConfig,
  apiClientType: new (configuration: ReturnType<typeof createConfiguration>) => T,
  {
    server,
    policy,
    connections,
  }: { server: string; policy: ApiRetryPolicy; connections: SharedConnections },
): T {
  const inner = new IsomorphicFetchHttpLibrary();
  return new apiClientType(
    createConfiguration({
      baseServer: new ServerConfiguration(server, {}),
      authMethods: { default: config },
      httpApi: wrapHttpLibrary({
        send: (request: RequestContext) => {
          connections.reuse(request);
          return sendBounded(inner, request, { server, policy });
        },
      }),
    }),
  );
}

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/** Where a cluster's typed clients take their connections from (see {@link sharedConnections}). */
export interface SharedConnections {
  /** Sends `request` over the shared connection pool when its credentials allow it. */
  reuse(request: RequestContext): void;
}

/**
 * One connection pool for every request to a cluster, as kubectl and client-go keep theirs.
 * client-node builds a new undici Agent for each request (KubeConfig.applySecurityAuthentication
 * → createDispatcher), so each request paid a TLS handshake on both ends and left an idle
 * socket behind: a sixth of a simulated run's CPU. The first request's dispatcher, built
 * from the kubeconfig's CA and client certificate, serves all of them.
 *
 * Not shared when the client certificate may change during the run: an exec credential
 * plugin or an auth provider can return a new one at each refresh (client-go closes its
 * connections on such a rotation, k8s.io/client-go/util/connrotation); those requests keep
 * client-node's own per-request dispatcher. A bearer token travels in a header and is
 * applied to every request as before.
 */
export function sharedConnections(config: KubeConfig): SharedConnections {
  const user = config.getCurrentUser();
  if (user?.exec || user?.authProvider) return { reuse: () => undefined };
  let shared: Dispatcher | undefined;
  return {
    reuse(request) {
      const fresh = request.getDispatcher();
      if (!fresh) return;
      shared ??= fresh;
      if (fresh !== shared) request.setDispatcher(shared);
    },
  };
}
