/**
 * The stand-in istioctl's commands around an upgrade: `x precheck` (is the cluster safe to
 * install or upgrade), `analyze -n NS` (validation messages for namespaces) and
 * `uninstall --revision REV -y` (remove one control-plane revision). They answer from
 * what the cluster holds, in the wording real istioctl prints on success.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { StandinIo } from './kind.ts';
import { commandFlags, connectFrom, refusesToPrompt } from './istioctl.ts';
import {
  ISTIO_CONTROL_PLANE,
  injectorWebhookName,
  istiodName,
  meshConfigMapName,
} from '../../harness/facts/istio-install.ts';
import { INJECTION } from '../../harness/facts/injection.ts';

const kubernetes = async () => ({
  ...(await import('../../harness/k8s/client.ts')),
  ...(await import('../../harness/k8s/objects.ts')),
});

/** `istioctl x precheck`: an unreachable cluster is an error; otherwise safe. */
export async function precheck(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  io: StandinIo,
): Promise<number> {
  const values = commandFlags(args, { revision: { type: 'string', short: 'r' } });
  const kube = await connectFrom(values, env);
  const { errorText } = await kubernetes();
  try {
    await kube.core.listNamespace({});
  } catch (error) {
    io.err(`Error: failed to connect to the cluster: ${errorText(error)}\n`);
    return 1;
  }
  io.out('✔ No issues found when checking the cluster. Istio is safe to install or upgrade!\n');
  return 0;
}

/** `istioctl analyze -n NS`: no validation messages for namespaces that exist. */
export async function analyze(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  io: StandinIo,
): Promise<number> {
  const values = commandFlags(args, {
    namespace: { type: 'string', short: 'n' },
    'all-namespaces': { type: 'boolean', short: 'A' },
  });
  const kube = await connectFrom(values, env);
  const namespace = values.namespace ?? 'default';
  try {
    await kube.core.readNamespace({ name: namespace });
  } catch {
    io.err(`Error: namespace "${namespace}" not found\n`);
    return 1;
  }
  io.out(
    values['all-namespaces']
      ? '✔ No validation issues found when analyzing all namespaces.\n'
      : `✔ No validation issues found when analyzing namespace: ${namespace}.\n`,
  );
  return 0;
}

/** `istioctl uninstall --revision REV -y`: deletes that revision's control plane. */
export async function uninstall(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  io: StandinIo,
): Promise<number> {
  const values = commandFlags(args, {
    revision: { type: 'string', short: 'r' },
    'skip-confirmation': { type: 'boolean', short: 'y' },
  });
  if (refusesToPrompt(values, io)) return 1;
  const revision = values.revision ?? INJECTION.defaultRevision;
  const kube = await connectFrom(values, env);
  const { isNotFound } = await kubernetes();
  const namespace = ISTIO_CONTROL_PLANE.defaultNamespace;
  const refs: KubernetesObject[] = [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: istiodName(revision), namespace },
    },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: istiodName(revision), namespace } },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: istiodName(revision), namespace },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: meshConfigMapName(revision), namespace },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: injectorWebhookName(revision, namespace) },
    },
  ];
  for (const ref of refs) {
    try {
      await kube.objects.delete(ref);
      io.out(
        `✔ Removed ${ref.kind}:${ref.metadata?.namespace ?? ''}:${ref.metadata?.name ?? ''}.\n`,
      );
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  io.out('✔ Uninstall complete\n');
  return 0;
}
