/**
 * The upgrade itself, as timed steps: istioctl B over A (in place) or beside it with
 * revision `b` (canary), rolling restarts through `kubectl.kubernetes.io/restartedAt`, and
 * waits for each rollout to finish (every replica updated and ready).
 */
import type { V1Deployment } from '@kubernetes/client-node';
import { runTool, type ToolOutput } from '../binaries.ts';
import type { Kube } from '../k8s/client.ts';
import { mergePatch } from '../k8s/objects.ts';
import { pollUntil } from '../wait.ts';
import { INJECTION } from '../facts/injection.ts';
import type { UpgradeStep } from './disruption.ts';

/** An istioctl of one version, with the environment it needs. */
export interface Istioctl {
  path: string;
  env: NodeJS.ProcessEnv;
}

/** What the steps work on. */
export interface StepContext {
  kube: Kube;
  kubeconfigPath: string;
  istioctl: Istioctl;
  timeoutMs: number;
  steps: UpgradeStep[];
  log: (line: string) => void;
  signal?: AbortSignal;
}

/** Runs `action` as a named step, recording its start and end. */
export async function step<T>(
  context: Pick<StepContext, 'steps' | 'log'>,
  name: string,
  action: () => Promise<T>,
): Promise<T> {
  const record: UpgradeStep = { name, startedAt: new Date() };
  context.steps.push(record);
  context.log(`upgrade step: ${name}`);
  try {
    return await action();
  } finally {
    record.endedAt = new Date();
  }
}

/** Runs istioctl with the run's kubeconfig; its stdout. */
export async function istioctl(
  context: StepContext,
  args: string[],
  what: string,
): Promise<string> {
  return (await istioctlOutput(context, args, what)).stdout;
}

/**
 * Runs istioctl with the run's kubeconfig: what it printed and its exit code, which is 0 or
 * one of `resultExitCodes`; any other exit is thrown (ToolFailedError, exit 2).
 */
export async function istioctlOutput(
  context: StepContext,
  args: string[],
  what: string,
  resultExitCodes: readonly number[] = [],
): Promise<ToolOutput> {
  return runTool({
    path: context.istioctl.path,
    args: [...args, '--kubeconfig', context.kubeconfigPath],
    what,
    fix: 'read the istioctl output above; the cluster may be left half-upgraded',
    timeoutMs: context.timeoutMs,
    env: context.istioctl.env,
    resultExitCodes,
    ...(context.signal ? { cancelSignal: context.signal } : {}),
  });
}

function rolledOut(deployment: V1Deployment): boolean {
  const wanted = deployment.spec?.replicas ?? 1;
  const status = deployment.status ?? {};
  return (
    (status.updatedReplicas ?? 0) === wanted &&
    (status.replicas ?? 0) === wanted &&
    (status.readyReplicas ?? 0) === wanted
  );
}

/** Waits until every replica of the Deployment runs its current template and is ready. */
export async function waitForRollout(
  context: StepContext,
  namespace: string,
  name: string,
): Promise<void> {
  await pollUntil({
    what: `deployment ${namespace}/${name} to finish rolling out`,
    timeoutMs: context.timeoutMs,
    intervalMs: 100,
    observe: () => context.kube.apps.readNamespacedDeployment({ namespace, name }),
    done: rolledOut,
    describe: (d) =>
      `${d.status?.updatedReplicas ?? 0} updated, ${d.status?.readyReplicas ?? 0} ready of ${d.spec?.replicas ?? 1}`,
    hint: `look at the pods and events in ${namespace}`,
  });
}

/** Moves a namespace to revision `revision` (canary): `istio.io/rev` set, `istio-injection` removed. */
export async function moveNamespaceToRevision(
  kube: Kube,
  namespace: string,
  revision: string,
): Promise<void> {
  await mergePatch(
    kube,
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name: namespace,
        labels: { [INJECTION.namespaceLabel]: null, [INJECTION.revisionLabel]: revision },
      },
    } as never,
    'Moving the namespace to the canary revision',
  );
}
