/**
 * The one way the harness reaches a cluster: a kubeconfig, through @kubernetes/client-node.
 * kubectl is deliberately not used, so the harness runs where only the API is reachable.
 */
import {
  AppsV1Api,
  CoreV1Api,
  Exec,
  KubeConfig,
  KubernetesObjectApi,
  Log,
  ApiException,
} from '@kubernetes/client-node';
import { EnvironmentError } from '../errors.ts';

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
}

/** Loads a kubeconfig and builds the clients; a missing file or context is an environment error. */
export function connect({
  kubeconfigPath,
  context,
}: {
  kubeconfigPath: string;
  context?: string;
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
  return {
    config,
    core: config.makeApiClient(CoreV1Api),
    apps: config.makeApiClient(AppsV1Api),
    objects: KubernetesObjectApi.makeApiClient(config),
    exec: new Exec(config),
    log: new Log(config),
    server: cluster.server,
  };
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
