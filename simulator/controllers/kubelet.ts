/** The scheduler and kubelet of the one node: bind new pods, run them after `podStartMs`. */
import { createHash } from 'node:crypto';
import { hasProxy, NATIVE_SIDECARS, PROXY_CONTAINER } from '../../harness/facts.ts';
import { asArray, asRecord, rfc3339, type Json } from '../json.ts';
import type { StoreEvent } from '../store/object-store.ts';
import type { KubeObject } from '../types.ts';
import type { ControllerContext } from './context.ts';

export function isPodReady(pod: KubeObject): boolean {
  return asArray(asRecord(pod.status).conditions).some(
    (condition) => condition.type === 'Ready' && condition.status === 'True',
  );
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Pod lifecycle on the node; pod IPs are handed out in order, as kindnet's IPAM would. */
export class Kubelet {
  readonly #context: ControllerContext;
  #nextPodIndex = 5;

  constructor(context: ControllerContext) {
    this.#context = context;
  }

  onPodEvent(event: StoreEvent): void {
    const object = event.object;
    if (event.type === 'ADDED' && asRecord(object.spec).nodeName === undefined)
      this.#schedule(object);
    if (event.type === 'DELETED')
      this.#context.store.logs.removePod(
        object.metadata.namespace ?? 'default',
        object.metadata.name,
      );
  }

  #allocatePodIp(): string {
    const index = this.#nextPodIndex++;
    return `10.244.${(index >> 8) & 255}.${index & 255}`;
  }

  #schedule(pod: KubeObject): void {
    const { store, settings } = this.#context;
    const namespace = pod.metadata.namespace ?? 'default';
    const now = rfc3339(store.now());
    const bound = store.modify('Pod', namespace, pod.metadata.name, (draft) => {
      const spec = asRecord(draft.spec);
      spec.nodeName = settings.nodeName;
      const status = asRecord(draft.status);
      status.conditions = [
        { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now },
      ];
      status.hostIP = settings.nodeIp;
      status.hostIPs = [{ ip: settings.nodeIp }];
      status.startTime = now;
      status.containerStatuses = asArray(spec.containers).map((container) => ({
        name: container.name,
        image: container.image,
        imageID: '',
        ready: false,
        restartCount: 0,
        started: false,
        state: { waiting: { reason: 'ContainerCreating' } },
        lastState: {},
      }));
      draft.status = status;
    });
    if (bound === undefined) return;
    this.#context.emitEvent(
      bound,
      'Scheduled',
      `Successfully assigned ${namespace}/${bound.metadata.name} to ${settings.nodeName}`,
      'default-scheduler',
    );
    this.#context.later(settings.podStartMs, () =>
      this.#start(namespace, bound.metadata.name, bound.metadata.uid ?? ''),
    );
  }

  #start(namespace: string, name: string, uid: string): void {
    const { store } = this.#context;
    const pod = store.get('Pod', namespace, name);
    if (
      pod === undefined ||
      pod.metadata.uid !== uid ||
      pod.metadata.deletionTimestamp !== undefined
    )
      return;
    const spec = asRecord(pod.spec);
    for (const [list, path] of [
      [asArray(spec.initContainers), 'initContainers'],
      [asArray(spec.containers), 'containers'],
    ] as const) {
      for (const container of list) {
        const fieldPath = `spec.${path}{${String(container.name)}}`;
        this.#context.emitEvent(
          pod,
          'Pulled',
          `Container image "${String(container.image)}" already present on machine`,
          'kubelet',
          fieldPath,
        );
        this.#context.emitEvent(
          pod,
          'Created',
          `Created container: ${String(container.name)}`,
          'kubelet',
          fieldPath,
        );
        this.#context.emitEvent(
          pod,
          'Started',
          `Started container ${String(container.name)}`,
          'kubelet',
          fieldPath,
        );
      }
    }
    const now = rfc3339(store.now());
    const podIp = this.#allocatePodIp();
    const containerStatus = (container: Json, running: boolean): Json => ({
      name: container.name,
      image: container.image,
      imageID: `${String(container.image).split(':')[0] ?? ''}@sha256:${sha256(String(container.image))}`,
      containerID: `containerd://${sha256(`${uid}/${String(container.name)}`)}`,
      ready: running,
      restartCount: 0,
      started: running,
      state: running
        ? { running: { startedAt: now } }
        : {
            terminated: {
              exitCode: 0,
              reason: 'Completed',
              startedAt: now,
              finishedAt: now,
              containerID: `containerd://${sha256(`${uid}/${String(container.name)}`)}`,
            },
          },
      lastState: {},
    });
    store.modify('Pod', namespace, name, (draft) => {
      const status = asRecord(draft.status);
      const condition = (type: string): Json => ({
        type,
        status: 'True',
        lastProbeTime: null,
        lastTransitionTime: now,
      });
      status.phase = 'Running';
      status.conditions = [
        condition('PodReadyToStartContainers'),
        condition('Initialized'),
        condition('Ready'),
        condition('ContainersReady'),
        ...asArray(status.conditions).filter((existing) => existing.type === 'PodScheduled'),
      ];
      status.podIP = podIp;
      status.podIPs = [{ ip: podIp }];
      if (asArray(spec.initContainers).length > 0) {
        // A restartable init container (a native sidecar) keeps running; others completed.
        status.initContainerStatuses = asArray(spec.initContainers).map((container) =>
          containerStatus(container, container.restartPolicy === NATIVE_SIDECARS.restartPolicy),
        );
      }
      status.containerStatuses = asArray(spec.containers).map((container) =>
        containerStatus(container, true),
      );
      draft.status = status;
    });
    if (hasProxy({ spec })) {
      store.logs.append(
        namespace,
        name,
        PROXY_CONTAINER,
        `${new Date(store.now()).toISOString()}\tinfo\tEnvoy proxy is ready`,
      );
    }
  }
}
