/**
 * The stand-in istioctl's own Kubernetes client: just the REST calls its commands make, over
 * node:https with JSON. Real istioctl is a Go binary that starts in a tenth of a second;
 * loading @kubernetes/client-node cost the stand-in about 1.5 s of CPU per invocation, which
 * skewed the upgrade benchmark (an upgrade run calls istioctl many times) and CI time.
 *
 * It reads the kubeconfig shapes the simulated cluster and the stand-in kind write (server,
 * CA, token) plus client certificates, and refuses what it does not implement (exec plugins,
 * auth providers, basic auth, impersonation, proxies) with an error naming the field, rather
 * than sending unauthenticated requests. Kinds are found by discovery, as client-node's
 * KubernetesObjectApi finds them, so Istio's custom resources need no table here. Requests
 * are bounded and retried by the harness's own policy (harness/k8s/retry.ts), as they were
 * when the stand-in went through client-node.
 */
import type { Agent, IncomingMessage } from 'node:http';
import { waitForReadyPods } from '../../harness/k8s/readiness.ts';
import { refText, type ObjectRef } from '../../harness/k8s/refs.ts';
import {
  ApiUnavailableError,
  AttemptTimeoutError,
  failureText,
  retryAfterMs,
  retryPolicy,
  statusVerdict,
  transportVerdict,
  withApiRetries,
  type ApiRetryPolicy,
  type AttemptVerdict,
} from '../../harness/k8s/retry.ts';
import { FIELD_MANAGER } from '../../harness/run-labels.ts';
import { DEFAULT_TIMEOUTS } from '../../harness/timeouts.ts';
import { loadKubeconfig, type KubeTarget } from './kubeconfig.ts';

// The CommonJS module, not `import … from 'node:https'`: an ESM import of node:http reads
// every export, and its lazy fetch/WebSocket getters then load undici (~25 ms of CPU, a
// tenth of what a command adds to Node's start). node:http itself only for an http:// server.
const transport = (protocol: string) =>
  process.getBuiltinModule(protocol === 'http:' ? 'node:http' : 'node:https');

/** An object as the API serves it, reduced to what the stand-ins read. */
export interface LiteObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
  };
}

/** Enough to identify one object (the harness's ObjectRef). */
export type LiteRef = ObjectRef;

/** The fields of a Deployment the readiness wait reads. */
export interface LiteDeployment extends LiteObject {
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: { spec?: { containers?: { name?: string; image?: string }[] } };
  };
}

/** The fields of a Pod the stand-ins read. */
export interface LitePod extends LiteObject {
  spec?: {
    containers?: { name?: string }[];
    initContainers?: { name?: string; restartPolicy?: string }[];
  };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

/** The API server answered with an error status; `status` is the HTTP code (404: not found). */
export class KubeApiError extends Error {
  override name = 'KubeApiError';
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    // The shape harness/k8s/client.ts's errorText gives client-node's errors.
    super(`HTTP ${status}${reason ? ` ${reason}` : ''}: ${message}`);
    this.status = status;
    this.reason = reason;
  }
}

/** True when the API server said the object (or its kind) does not exist. */
export function isNotFound(error: unknown): boolean {
  return error instanceof KubeApiError && error.status === 404;
}

/** An answer the retry policy may send the request again for; carries the answer. */
class StatusFailure extends Error {
  readonly answer: Answer;
  constructor(answer: Answer) {
    super(`HTTP ${answer.status}`);
    this.answer = answer;
  }
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
}

/** Node's socket errors that mean "no answer (yet)", never "the server said no". */
const TRANSPORT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** A kind's REST resource, as discovery names it (`name` is the plural, or `plural/sub`). */
interface ResourceInfo {
  name: string;
  namespaced: boolean;
  kind: string;
}

/** The requests the stand-ins make, against one cluster. */
export class KubeLite {
  readonly server: string;
  readonly #target: KubeTarget;
  readonly #protocol: string;
  readonly #agent: Agent;
  readonly #policy: ApiRetryPolicy;
  readonly #discovery = new Map<string, Promise<ResourceInfo[]>>();

  constructor(target: KubeTarget, policy: ApiRetryPolicy = retryPolicy(DEFAULT_TIMEOUTS)) {
    this.server = target.server;
    this.#target = target;
    this.#policy = policy;
    // One keep-alive pool per process, as client-go keeps one per cluster: one TLS handshake.
    this.#protocol = new URL(target.server).protocol;
    this.#agent = new (transport(this.#protocol).Agent)({ keepAlive: true, ...target.tls });
  }

  /** Reads one object; a missing one is a {@link KubeApiError} with status 404. */
  async read<T extends LiteObject>(ref: LiteRef): Promise<T> {
    return (await this.request('GET', await this.#path(ref))) as T;
  }

  /** Lists a kind in `namespace` (every namespace when undefined), by label selector if given. */
  async list<T extends LiteObject>(
    apiVersion: string,
    kind: string,
    { namespace, labelSelector }: { namespace?: string | undefined; labelSelector?: string } = {},
  ): Promise<T[]> {
    const path = await this.#path({ apiVersion, kind, metadata: { name: '', namespace } }, 'all');
    const query = labelSelector ? { labelSelector } : undefined;
    return ((await this.request('GET', path, { query })) as { items?: T[] }).items ?? [];
  }

  /** Deletes one object; a missing one is a {@link KubeApiError} with status 404. */
  async delete(ref: LiteRef): Promise<void> {
    await this.request('DELETE', await this.#path(ref));
  }

  /**
   * Server-side applies one object under the harness's field manager, taking over conflicting
   * fields (`force`), as harness/k8s/objects.ts's applyObjects does; returns it as stored.
   */
  async apply<T extends LiteObject>(object: T & LiteRef): Promise<T> {
    return (await this.request('PATCH', await this.#path(object), {
      query: { fieldManager: FIELD_MANAGER, force: 'true' },
      // JSON is YAML, and what client-node sends under this content type too.
      body: JSON.stringify(object),
      contentType: 'application/apply-patch+yaml',
    })) as T;
  }

  /** The pods of `namespace` matching a label selector, without those being deleted. */
  async listPods(namespace: string, labelSelector: string): Promise<LitePod[]> {
    const pods = await this.list<LitePod>('v1', 'Pod', { namespace, labelSelector });
    return pods.filter((pod) => !pod.metadata?.deletionTimestamp);
  }

  /** Reads one Deployment. */
  async readDeployment(namespace: string, name: string): Promise<LiteDeployment> {
    return this.read<LiteDeployment>({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
    });
  }

  /** Closes the idle connections, so that nothing keeps the process waiting. */
  close(): void {
    this.#agent.destroy();
  }

  /**
   * The REST path of an object (or, with `all`, of its kind's collection; in every namespace
   * when the ref has none), from discovery of its group and version.
   */
  async #path(ref: LiteRef, scope: 'one' | 'all' = 'one'): Promise<string> {
    const { apiVersion, kind, metadata } = ref;
    const groupPath = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const resources = await this.#resources(apiVersion, groupPath);
    // Subresources (`deployments/scale`) carry other kinds' names; never a match.
    const resource = resources.find((r) => r.kind === kind && !r.name.includes('/'));
    if (!resource) {
      // What the API server answers for a resource path it does not serve.
      throw new KubeApiError(404, 'NotFound', `the server does not serve ${kind} in ${apiVersion}`);
    }
    const namespace =
      scope === 'all' ? metadata.namespace : (metadata.namespace ?? this.#target.namespace);
    const namespaced =
      resource.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    const name = scope === 'one' ? `/${encodeURIComponent(metadata.name)}` : '';
    return `${groupPath}${namespaced}/${resource.name}${name}`;
  }

  /** The resources one group version serves, asked once per process and version. */
  #resources(apiVersion: string, groupPath: string): Promise<ResourceInfo[]> {
    let known = this.#discovery.get(apiVersion);
    if (!known) {
      known = this.request('GET', groupPath).then(
        (list) => (list as { resources?: ResourceInfo[] } | undefined)?.resources ?? [],
      );
      // A failed discovery is asked again next time, not remembered.
      known.catch(() => this.#discovery.delete(apiVersion));
      this.#discovery.set(apiVersion, known);
    }
    return known;
  }

  /**
   * Sends one request, retried as harness/k8s/retry.ts decides (every request here is
   * idempotent: reads, deletes and server-side applies), and answers its JSON body; an error
   * status is a {@link KubeApiError}.
   */
  async request(
    method: 'GET' | 'DELETE' | 'PATCH',
    path: string,
    {
      query,
      body,
      contentType,
    }: { query?: Record<string, string> | undefined; body?: string; contentType?: string } = {},
  ): Promise<unknown> {
    const base = new URL(this.server);
    const url = new URL(`${base.pathname.replace(/\/$/, '')}${path}`, base);
    for (const [key, value] of Object.entries(query ?? {})) url.searchParams.set(key, value);
    const what = `${method} ${path}`;
    let answer: Answer;
    try {
      answer = await withApiRetries<Answer>({
        server: this.server,
        policy: this.#policy,
        what,
        attempt: async (signal) => {
          const got = await this.#exchange(url, method, signal, body, contentType);
          if (statusVerdict(got.status, 'idempotent').retry) throw new StatusFailure(got);
          return got;
        },
        judge: (error): AttemptVerdict => {
          if (error instanceof StatusFailure) {
            const retryAfter = retryAfterMs(error.answer.headers['retry-after']);
            return statusVerdict(error.answer.status, 'idempotent', retryAfter);
          }
          if (error instanceof AttemptTimeoutError || isTransportFailure(error)) {
            return transportVerdict(error, 'idempotent');
          }
          return { retry: false, unavailable: false };
        },
        // Retries ended on an answer (the last 500): hand on the server's own Status.
        settle: (error) => (error instanceof StatusFailure ? error.answer : undefined),
      });
    } catch (error) {
      if (error instanceof ApiUnavailableError) throw error;
      // TLS and other failures that retrying cannot mend: say which request met them.
      throw new Error(`${what} to ${this.server} failed: ${failureText(error)}`, { cause: error });
    }
    if (answer.status >= 200 && answer.status < 300) {
      return answer.body === '' ? undefined : (JSON.parse(answer.body) as unknown);
    }
    throw apiError(answer);
  }

  #exchange(
    url: URL,
    method: string,
    signal: AbortSignal,
    body: string | undefined,
    contentType: string | undefined,
  ): Promise<Answer> {
    const send = transport(this.#protocol).request;
    return new Promise<Answer>((resolvePromise, reject) => {
      const request = send(
        url,
        {
          method,
          agent: this.#agent,
          signal,
          headers: {
            Accept: 'application/json',
            ...this.#target.headers,
            ...(body === undefined
              ? {}
              : {
                  'Content-Type': contentType ?? 'application/json',
                  'Content-Length': Buffer.byteLength(body),
                }),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          // The whole body is read inside the attempt, so its deadline covers a stalled body.
          response.on('end', () =>
            resolvePromise({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          response.on('error', reject);
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }
}

/** The error for an error answer: the Status's reason and message, else the body's text. */
function apiError(answer: Answer): KubeApiError {
  try {
    const status = JSON.parse(answer.body) as { reason?: unknown; message?: unknown };
    return new KubeApiError(
      answer.status,
      typeof status.reason === 'string' ? status.reason : '',
      typeof status.message === 'string' ? status.message : answer.body.trim(),
    );
  } catch {
    return new KubeApiError(answer.status, '', answer.body.trim());
  }
}

function isTransportFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'AbortError') return true;
  return TRANSPORT_CODES.has((error as NodeJS.ErrnoException).code ?? '');
}

/** Connects to the cluster a kubeconfig (and context) names. */
export async function connectLite(options: {
  kubeconfigPath: string;
  context?: string | undefined;
}): Promise<KubeLite> {
  return new KubeLite(await loadKubeconfig(options));
}

/** Applies each object in order, as harness/k8s/objects.ts's applyObjects does. */
export async function applyObjects(kube: KubeLite, objects: readonly LiteRef[]): Promise<void> {
  for (const object of objects) {
    try {
      await kube.apply(object);
    } catch (error) {
      if (error instanceof ApiUnavailableError) throw error;
      const text = error instanceof Error ? error.message : String(error);
      throw new Error(`Applying ${refText(object)} failed: ${text}`, {
        cause: error,
      });
    }
  }
}

/** Waits by the harness's own rule (harness/k8s/readiness.ts) through this client. */
export async function waitForDeploymentReady(
  kube: KubeLite,
  options: { namespace: string; name: string; timeoutMs: number; intervalMs?: number },
): Promise<LitePod[]> {
  const { namespace, name } = options;
  return waitForReadyPods({
    ...options,
    readDeployment: () => kube.readDeployment(namespace, name),
    listPods: (selector) => kube.listPods(namespace, selector),
  });
}
