/** Which container a `pods/log` or `pods/exec` request means, and whether it can answer yet. */
import { asArray, asRecord, text } from '../json.ts';
import { badRequestError } from '../store/errors.ts';
import type { KubeObject } from '../types.ts';

function containerNames(pod: KubeObject, list: 'containers' | 'initContainers'): string[] {
  return asArray(asRecord(pod.spec)[list]).map((container) => String(container.name));
}

/** The container a request names, or the only one; a 400 otherwise. */
export function resolveContainer(pod: KubeObject, requested: string): string {
  const containers = containerNames(pod, 'containers');
  const initContainers = containerNames(pod, 'initContainers');
  if (requested === '') {
    // kubectl picks `kubectl.kubernetes.io/default-container` client-side; the API server does not.
    if (containers.length === 1) return containers[0] ?? '';
    let message = `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${containers.join(' ')}]`;
    if (initContainers.length > 0)
      message += ` or one of the init containers: [${initContainers.join(' ')}]`;
    throw badRequestError(message);
  }
  if (!containers.includes(requested) && !initContainers.includes(requested)) {
    throw badRequestError(`container ${requested} is not valid for pod ${pod.metadata.name}`);
  }
  return requested;
}

/** Refuses logs of a container not started yet and exec into one not running. */
export function requireStarted(pod: KubeObject, container: string, purpose: 'log' | 'exec'): void {
  const status = asRecord(pod.status);
  const phase = text(status.phase, 'Pending');
  if (purpose === 'exec' && (phase === 'Succeeded' || phase === 'Failed')) {
    throw badRequestError(
      `cannot exec into a container in a completed pod; current phase is ${phase}`,
    );
  }
  const statuses = [...asArray(status.containerStatuses), ...asArray(status.initContainerStatuses)];
  const state = asRecord(statuses.find((candidate) => candidate.name === container)?.state);
  if (purpose === 'exec') {
    if (state.running === undefined)
      throw badRequestError(`unable to upgrade connection: container not found ("${container}")`);
    return;
  }
  if (state.running === undefined && state.terminated === undefined) {
    const reason = text(asRecord(state.waiting).reason, 'ContainerCreating');
    throw badRequestError(
      `container "${container}" in pod "${pod.metadata.name}" is waiting to start: ${reason}`,
    );
  }
}
