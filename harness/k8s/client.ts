/**
 * The one way the harness reaches a cluster: a kubeconfig, through @kubernetes/client-node.
 * kubectl is deliberately not used, so the harness runs where only the API is reachable.
 */
import type { ChildProcess } from 'node:child_process';
import { Agent as HttpsAgent } from 'node:https';
import { createSecureContext } from 'node:tls';
import {
  AppsV1Api,
  CoreV1Api,
  Exec,
  KubeConfig,
  KubernetesObjectApi,
  Log,
  ApiException,
  type createConfiguration,
} from '@kubernetes/client-node';
import { EnvironmentError } from '../errors.ts';
import { DEFAULT_TIMEOUTS, type TimeoutConfig } from '../timeouts.ts';
import { makeBoundedApiClient, sharedConnections } from './http.ts';
import { retryPolicy, type ApiRetryPolicy } from './retry.ts';

/** The API clients for one cluster, built from one kubeconfig and context. */
export interface Kube {
  config: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  objects: KubernetesObjectApi;
  exec: Exec;
  log: Log;
  /** The API server URL, for messages (never the credentials). */
  server: string;
  /** How every request through these clients is bounded and retried (harness/k8s/retry.ts). */
  policy: ApiRetryPolicy;
  /** Another of client-node's typed API clients, bounded and retried like the others. */
  api<T>(apiClientType: new (configuration: ReturnType<typeof createConfiguration>) => T): T;
}

/**
 * Loads a kubeconfig and builds the clients; a missing file or context is an environment
 * error. `timeouts` bound and retry every request (`apiRequest`, `apiUnavailable`).
 */
export function connect({
  kubeconfigPath,
  context,
  timeouts = DEFAULT_TIMEOUTS,
}: {
  kubeconfigPath: string;
  context?: string;
  timeouts?: Pick<TimeoutConfig, 'apiRequest' | 'apiUnavailable'>;
}): Kube {
  const config = new KubeConfig();
  try {
    config.loadFromFile(kubeconfigPath);
  } catch (error) {
    throw new EnvironmentError(
      `Cannot read the kubeconfig ${kubeconfigPath} (${errorText(error)}); pass --kubeconfig with a readable file.`,
      { cause: error },
    );
  }
  if (context) {
    if (!config.getContexts().some((c) => c.name === context)) {
      throw new EnvironmentError(
        `The kubeconfig ${kubeconfigPath} has no context "${context}"; pass --context with one of: ${config
          .getContexts()
          .map((c) => c.name)
          .join(', ')}.`,
      );
    }
    config.setCurrentContext(context);
  }
  const cluster = config.getCurrentCluster();
  if (!cluster) {
    throw new EnvironmentError(
      `The kubeconfig ${kubeconfigPath} has no current cluster; pass --context to pick one.`,
    );
  }
  const server = cluster.server;
  pluginsEndWithProcess(config);
  const policy = retryPolicy(timeouts);
  const connections = sharedConnections(config);
  const api = <T>(type: new (configuration: ReturnType<typeof createConfiguration>) => T): T =>
    makeBoundedApiClient(config, type, { server, policy, connections });
  const objects = api(KubernetesObjectApi);
  // What KubernetesObjectApi.makeApiClient does after construction (the method is protected).
  (objects as unknown as { setDefaultNamespace(kc: KubeConfig): string }).setDefaultNamespace(
    config,
  );
  return {
    config,
    core: api(CoreV1Api),
    apps: api(AppsV1Api),
    objects,
    exec: new Exec(execTransport(config, policy.attemptTimeoutMs)),
    log: new Log(config),
    server,
    policy,
    api,
  };
}

/** client-node's exec credential authenticator, as far as this module touches it. */
interface ExecAuthenticator {
  execFn: (command: string, args: string[], options: object) => ChildProcess;
}

/**
 * Credential plugins go with the run: client-node spawns a kubeconfig's exec plugin
 * (`ExecAuth.execFn`, child_process.spawn) and never kills it, so a plugin that hangs
 * outlived the CLI after checkReachable gave up on it. Each plugin process is killed when
 * this process exits, however it exits.
 */
function pluginsEndWithProcess(config: KubeConfig): void {
  const authenticators = (config as unknown as { authenticators?: unknown[] }).authenticators;
  const execAuth = authenticators?.find(
    (candidate): candidate is ExecAuthenticator =>
      typeof (candidate as Partial<ExecAuthenticator>).execFn === 'function',
  );
  if (!execAuth) return;
  const spawnPlugin = execAuth.execFn.bind(execAuth);
  execAuth.execFn = (command, args, options) => {
    const plugin = spawnPlugin(command, args, options);
    const kill = (): void => {
      plugin.kill('SIGKILL');
    };
    process.once('exit', kill);
    plugin.once('close', () => process.removeListener('exit', kill));
    return plugin;
  };
}

/**
 * The kubeconfig as the exec WebSocket sees it, with a deadline on the opening handshake
 * (ws's `handshakeTimeout`): client-node opens the socket without one, so an API server that
 * accepts the connection and never answers would hold the exec forever.
 *
 * And the TLS context of the exec connections built once: client-node keeps one HTTPS agent
 * per cluster and user (KubeConfig.createAgent's agentCache, dist/config.js, 2.0.1), but
 * Node's agent builds a new context from the CA and the client certificate for every
 * connection (tls.connect without `secureContext`), and every exec is a new connection (a
 * WebSocket cannot reuse one). Each check observation is an exec: building contexts was a thirtieth of a
 * simulated run's CPU. Built per connection as before, as for the typed clients
 * ({@link sharedConnections}), when the client certificate may change during the run (an exec
 * credential plugin or an auth provider), and left alone when client-node chose a proxy agent.
 */
export function execTransport(config: KubeConfig, timeoutMs: number): KubeConfig {
  const bounded = Object.create(config) as KubeConfig;
  const user = config.getCurrentUser();
  const rotating = Boolean(user?.exec || user?.authProvider);
  let shared: HttpsAgent | undefined;
  bounded.applyToHTTPSOptions = async (options) => {
    await config.applyToHTTPSOptions(options);
    const opts = options as { handshakeTimeout?: number; agent?: unknown };
    opts.handshakeTimeout = timeoutMs;
    const own = opts.agent;
    if (rotating || !(own instanceof HttpsAgent) || own.constructor !== HttpsAgent) return;
    shared ??= new HttpsAgent({
      ...own.options,
      secureContext: createSecureContext(own.options),
    });
    opts.agent = shared;
  };
  return bounded;
}

/** A Kubernetes `Status` reduced to what messages need. */
export interface ApiFailure {
  code: number;
  reason: string;
  message: string;
}

/** Extracts the HTTP code, reason and message from whatever client-node threw. */
export function apiFailure(error: unknown): ApiFailure | undefined {
  if (!(error instanceof ApiException)) return undefined;
  const code = (error as ApiException<unknown>).code;
  let body: unknown = (error as ApiException<unknown>).body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return { code, reason: '', message: body as string };
    }
  }
  const status = (body ?? {}) as { reason?: string; message?: string };
  return { code, reason: status.reason ?? '', message: status.message ?? String(error.message) };
}

/** True when the error is the API server saying the object does not exist. */
export function isNotFound(error: unknown): boolean {
  return apiFailure(error)?.code === 404;
}

/** A short, secret-free description of an error for messages. */
export function errorText(error: unknown): string {
  const failure = apiFailure(error);
  if (failure) return `HTTP ${failure.code} ${failure.reason}: ${failure.message}`.trim();
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const causeText = cause instanceof Error ? ` (${cause.message})` : '';
    return `${error.message}${causeText}`;
  }
  return String(error);
}

/** How long the first request may take: TLS, credentials (an exec plugin) and one GET. */
export const REACHABLE_TIMEOUT_MS = 30_000;

/**
 * Turns "cannot connect" into an environment error naming the server; passes API errors
 * through. Bounded: a kubeconfig whose exec credential plugin waits for input or hangs would
 * otherwise stall the first request forever (client-node spawns it without a timeout).
 */
export async function checkReachable(
  kube: Kube,
  { timeoutMs = REACHABLE_TIMEOUT_MS }: { timeoutMs?: number } = {},
): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new ReachTimeout()), timeoutMs);
  });
  try {
    const { VersionApi } = await import('@kubernetes/client-node');
    const version = await Promise.race([kube.config.makeApiClient(VersionApi).getCode(), expired]);
    return version.gitVersion;
  } catch (error) {
    if (error instanceof ReachTimeout) {
      // client-node types `exec` loosely; only its command is read, as a string.
      const exec = kube.config.getCurrentUser()?.exec as { command?: unknown } | undefined;
      const plugin = typeof exec?.command === 'string' ? exec.command : undefined;
      throw new EnvironmentError(
        plugin
          ? `The Kubernetes API server at ${kube.server} did not answer within ${timeoutMs / 1000} s, and the kubeconfig's exec credential plugin (${plugin}) may be waiting for input or hanging; run it by hand to check, or use a kubeconfig with a token.`
          : `The Kubernetes API server at ${kube.server} did not answer within ${timeoutMs / 1000} s; check that the cluster is running and --kubeconfig/--context point at it.`,
      );
    }
    if (apiFailure(error)?.code === 401 || apiFailure(error)?.code === 403) {
      throw new EnvironmentError(
        `The Kubernetes API server at ${kube.server} refused the kubeconfig's credentials (${errorText(error)}); refresh the credentials or pick another --context.`,
        { cause: error },
      );
    }
    throw new EnvironmentError(
      `Cannot reach the Kubernetes API server at ${kube.server} (${errorText(error)}); check that the cluster is running and --kubeconfig/--context point at it.`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}

class ReachTimeout extends Error {}
