/**
 * The control loops and admission plugins of the simulated cluster: what kube-controller-
 * manager, the scheduler, the kubelet and Istio's sidecar injector would do to objects
 * in the store. Each loop is level-triggered (reads the current state, writes the
 * difference) so that replaying an event is harmless.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  ApiError,
  cloneObject,
  forbiddenError,
  notFoundError,
  RESOURCE_TYPES,
  resourceTypeForKind,
  type AdmissionRequest,
  type LabelSelectorObject,
  type ObjectStore,
  type StoreEvent,
} from './store.ts';
import type { KubeObject } from './types.ts';
import {
  hasProxy,
  injectsNativeSidecars,
  NATIVE_SIDECARS,
  PROXY_CONTAINER,
} from '../harness/facts.ts';

/** Knobs of the controllers; defaults in `CONTROLLER_DEFAULTS`. */
export interface ControllerOptions {
  /** Delay before a new pod is Running and Ready. */
  podStartMs?: number;
  /** How long a Terminating namespace lingers after its content is deleted. */
  namespaceDeletionMs?: number;
  nodeName?: string;
  nodeIp?: string;
  /** PEM published in every namespace's `kube-root-ca.crt` ConfigMap. */
  rootCaPem?: string;
}

/** Defaults of `ControllerOptions`. */
export const CONTROLLER_DEFAULTS = {
  podStartMs: 0,
  namespaceDeletionMs: 150,
  nodeName: 'egress-conformance-control-plane',
  nodeIp: '172.18.0.2',
  rootCaPem: '',
} as const;

/** A running set of controllers; `stop` cancels their timers and unsubscribes them. */
export interface Controllers {
  stop(): void;
}

type Mutable = Record<string, unknown>;

// The alphabet Kubernetes uses for generated name suffixes and hashes (no vowels, no
// look-alike digits), so generated names look like the real ones.
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function rfc3339(time: number): string {
  return new Date(time).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function asRecord(value: unknown): Mutable {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Mutable)
    : {};
}

function asArray(value: unknown): Mutable[] {
  return Array.isArray(value) ? value.map(asRecord) : [];
}

/** A scalar JSON value as text; anything else as `fallback`. */
function text(value: unknown, fallback = ''): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? String(value)
    : fallback;
}

function isIgnorable(error: unknown): boolean {
  // Races the real controllers shrug off too: the object went away, the namespace is
  // terminating, someone else created it first.
  return error instanceof ApiError && [403, 404, 409].includes(error.code);
}

/** Registers the admission plugins and starts the control loops on `store`. */
export function startControllers(store: ObjectStore, options: ControllerOptions = {}): Controllers {
  const settings = { ...CONTROLLER_DEFAULTS, ...options };
  const timers = new Set<NodeJS.Timeout>();
  const terminating = new Set<string>();
  let stopped = false;
  let nextPodIndex = 5;
  let nextServiceIndex = 20;

  const later = (ms: number, action: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (stopped) return;
      try {
        action();
      } catch (error) {
        if (!isIgnorable(error)) console.error('simulated controller failed:', error);
      }
    }, ms);
    timers.add(timer);
  };

  const allocatePodIp = (): string => {
    const index = nextPodIndex++;
    return `10.244.${(index >> 8) & 255}.${index & 255}`;
  };

  const allocateServiceIp = (): string => {
    for (;;) {
      const index = nextServiceIndex++;
      const ip = `10.96.${(index >> 8) & 255}.${index & 255}`;
      const taken = store
        .list('Service')
        .some((service) => asRecord(service.spec).clusterIP === ip);
      if (!taken && (index & 255) !== 0) return ip;
    }
  };

  const emitEvent = (
    involved: KubeObject,
    reason: string,
    message: string,
    component: string,
    fieldPath?: string,
  ): void => {
    const now = store.now();
    const namespace = involved.metadata.namespace ?? 'default';
    try {
      store.create({
        apiVersion: 'v1',
        kind: 'Event',
        metadata: {
          name: `${involved.metadata.name}.${randomBytes(8).toString('hex')}`,
          namespace,
        },
        involvedObject: {
          apiVersion: involved.apiVersion,
          kind: involved.kind,
          name: involved.metadata.name,
          namespace,
          uid: involved.metadata.uid,
          resourceVersion: involved.metadata.resourceVersion,
          ...(fieldPath === undefined ? {} : { fieldPath }),
        },
        reason,
        message,
        source: component === 'kubelet' ? { component, host: settings.nodeName } : { component },
        firstTimestamp: rfc3339(now),
        lastTimestamp: rfc3339(now),
        count: 1,
        type: 'Normal',
        eventTime: null,
        reportingComponent: component,
        reportingInstance: component === 'kubelet' ? settings.nodeName : '',
      });
    } catch (error) {
      if (!isIgnorable(error)) throw error;
    }
  };

  // ------------------------------------------------------------------ admission plugins

  store.addAdmission((request) => namespaceLifecycle(request, store));
  store.addAdmission((request) => {
    if (request.type.kind === 'Namespace') return defaultNamespace(request);
    if (request.type.kind === 'Service') return defaultService(request, allocateServiceIp);
    if (request.type.kind === 'Deployment') return defaultDeployment(request);
    if (request.type.kind === 'Pod' && request.operation === 'CREATE') {
      return injectSidecar(defaultPod(request.object), store);
    }
    return request.object;
  });

  // ------------------------------------------------------------------ control loops

  const ownedBy = (object: KubeObject, owner: KubeObject): boolean =>
    (object.metadata.ownerReferences ?? []).some(
      (reference) => reference.uid === owner.metadata.uid,
    );

  const controllerOf = (object: KubeObject, kind: string): KubeObject | undefined => {
    const reference = (object.metadata.ownerReferences ?? []).find(
      (candidate) => candidate.kind === kind,
    );
    if (reference === undefined) return undefined;
    const owner = store.get(kind, object.metadata.namespace, reference.name);
    return owner?.metadata.uid === reference.uid ? owner : undefined;
  };

  const isPodReady = (pod: KubeObject): boolean =>
    asArray(asRecord(pod.status).conditions).some(
      (condition) => condition.type === 'Ready' && condition.status === 'True',
    );

  const reconcileDeployment = (deployment: KubeObject): void => {
    if (deployment.metadata.deletionTimestamp !== undefined) return;
    const spec = asRecord(deployment.spec);
    const template = asRecord(spec.template);
    const hash = podTemplateHash(template);
    const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const namespace = deployment.metadata.namespace ?? 'default';
    const name = `${deployment.metadata.name}-${hash}`;
    const owned = store.list('ReplicaSet', { namespace }).filter((rs) => ownedBy(rs, deployment));
    const revision = String(
      1 +
        Math.max(
          0,
          ...owned.map((rs) =>
            Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? '0'),
          ),
        ),
    );
    const templateMetadata = asRecord(template.metadata);
    const podLabels = {
      ...(templateMetadata.labels as Record<string, string> | undefined),
      'pod-template-hash': hash,
    };
    const selector = asRecord(spec.selector) as LabelSelectorObject;
    const desired: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name,
        namespace,
        labels: podLabels,
        annotations: {
          'deployment.kubernetes.io/desired-replicas': String(replicas),
          'deployment.kubernetes.io/max-replicas': String(replicas + 1),
          'deployment.kubernetes.io/revision': revision,
        },
        ownerReferences: [controllerReference(deployment)],
      },
      spec: {
        replicas,
        selector: {
          ...selector,
          matchLabels: { ...(selector.matchLabels ?? {}), 'pod-template-hash': hash },
        },
        template: {
          ...template,
          metadata: { ...templateMetadata, labels: podLabels },
        },
      },
    };
    const current = owned.find((rs) => rs.metadata.name === name);
    if (current === undefined) {
      store.create(desired);
      emitEvent(
        deployment,
        'ScalingReplicaSet',
        `Scaled up replica set ${name} from 0 to ${replicas}`,
        'deployment-controller',
      );
    } else if (asRecord(current.spec).replicas !== replicas) {
      store.modify('ReplicaSet', namespace, name, (draft) => {
        asRecord(draft.spec).replicas = replicas;
        (draft.metadata.annotations ??= {})['deployment.kubernetes.io/desired-replicas'] =
          String(replicas);
      });
    }
    // A simplified rolling update: the old replica sets are scaled to zero at once.
    for (const old of owned) {
      if (old.metadata.name === name || asRecord(old.spec).replicas === 0) continue;
      store.modify('ReplicaSet', namespace, old.metadata.name, (draft) => {
        asRecord(draft.spec).replicas = 0;
      });
    }
    updateDeploymentStatus(deployment);
  };

  const updateDeploymentStatus = (deployment: KubeObject): void => {
    const namespace = deployment.metadata.namespace ?? 'default';
    const spec = asRecord(deployment.spec);
    const desired = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const currentName = `${deployment.metadata.name}-${podTemplateHash(asRecord(spec.template))}`;
    const replicaSets = store
      .list('ReplicaSet', { namespace })
      .filter((rs) => ownedBy(rs, deployment));
    const pods = store
      .list('Pod', { namespace })
      .filter(
        (pod) =>
          replicaSets.some((rs) => ownedBy(pod, rs)) &&
          pod.metadata.deletionTimestamp === undefined,
      );
    const ready = pods.filter(isPodReady).length;
    const updated = pods.filter(
      (pod) => pod.metadata.ownerReferences?.[0]?.name === currentName,
    ).length;
    const now = rfc3339(store.now());
    store.modify('Deployment', namespace, deployment.metadata.name, (draft) => {
      const previous = asRecord(draft.status);
      const previousConditions = asArray(previous.conditions);
      const condition = (
        type: string,
        status: string,
        reason: string,
        message: string,
      ): Mutable => {
        const old = previousConditions.find((candidate) => candidate.type === type);
        const same = old?.status === status && old.reason === reason;
        return {
          type,
          status,
          lastUpdateTime: same ? old.lastUpdateTime : now,
          lastTransitionTime: old?.status === status ? old.lastTransitionTime : now,
          reason,
          message,
        };
      };
      const available = ready >= desired;
      const progressed = updated === desired && ready >= desired;
      const status: Mutable = {
        observedGeneration: draft.metadata.generation,
        replicas: pods.length,
        updatedReplicas: updated,
        readyReplicas: ready,
        availableReplicas: ready,
        conditions: [
          available
            ? condition(
                'Available',
                'True',
                'MinimumReplicasAvailable',
                'Deployment has minimum availability.',
              )
            : condition(
                'Available',
                'False',
                'MinimumReplicasUnavailable',
                'Deployment does not have minimum availability.',
              ),
          progressed
            ? condition(
                'Progressing',
                'True',
                'NewReplicaSetAvailable',
                `ReplicaSet "${currentName}" has successfully progressed.`,
              )
            : condition(
                'Progressing',
                'True',
                'ReplicaSetUpdated',
                `ReplicaSet "${currentName}" is progressing.`,
              ),
        ],
      };
      // The real controller omits zero counts.
      for (const key of ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas']) {
        if (status[key] === 0) delete status[key];
      }
      if (pods.length - ready > 0) status.unavailableReplicas = pods.length - ready;
      draft.status = status;
    });
  };

  const reconcileReplicaSet = (replicaSet: KubeObject): void => {
    const namespace = replicaSet.metadata.namespace ?? 'default';
    const spec = asRecord(replicaSet.spec);
    const replicas = typeof spec.replicas === 'number' ? spec.replicas : 1;
    const pods = store
      .list('Pod', { namespace })
      .filter((pod) => ownedBy(pod, replicaSet) && pod.metadata.deletionTimestamp === undefined);
    if (replicaSet.metadata.deletionTimestamp === undefined) {
      const template = asRecord(spec.template);
      const templateMetadata = asRecord(template.metadata);
      for (let missing = replicas - pods.length; missing > 0; missing -= 1) {
        const pod = store.create({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: '',
            generateName: `${replicaSet.metadata.name}-`,
            namespace,
            labels: { ...(templateMetadata.labels as Record<string, string> | undefined) },
            ...(templateMetadata.annotations === undefined
              ? {}
              : { annotations: { ...(templateMetadata.annotations as Record<string, string>) } }),
            ownerReferences: [controllerReference(replicaSet)],
          },
          spec: cloneObject(asRecord(template.spec)),
        });
        emitEvent(
          replicaSet,
          'SuccessfulCreate',
          `Created pod: ${pod.metadata.name}`,
          'replicaset-controller',
        );
      }
      for (const extra of pods.slice(replicas)) {
        store.delete('Pod', namespace, extra.metadata.name);
        emitEvent(
          replicaSet,
          'SuccessfulDelete',
          `Deleted pod: ${extra.metadata.name}`,
          'replicaset-controller',
        );
      }
    }
    const current = store
      .list('Pod', { namespace })
      .filter((pod) => ownedBy(pod, replicaSet) && pod.metadata.deletionTimestamp === undefined);
    const ready = current.filter(isPodReady).length;
    store.modify('ReplicaSet', namespace, replicaSet.metadata.name, (draft) => {
      const status: Mutable = {
        replicas: current.length,
        fullyLabeledReplicas: current.length,
        readyReplicas: ready,
        availableReplicas: ready,
        observedGeneration: draft.metadata.generation,
      };
      for (const key of ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas']) {
        if (status[key] === 0) delete status[key];
      }
      draft.status = status;
    });
    const deployment = controllerOf(replicaSet, 'Deployment');
    if (deployment !== undefined) updateDeploymentStatus(deployment);
  };

  const schedulePod = (pod: KubeObject): void => {
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
    emitEvent(
      bound,
      'Scheduled',
      `Successfully assigned ${namespace}/${bound.metadata.name} to ${settings.nodeName}`,
      'default-scheduler',
    );
    later(settings.podStartMs, () =>
      startPod(namespace, bound.metadata.name, bound.metadata.uid ?? ''),
    );
  };

  const startPod = (namespace: string, name: string, uid: string): void => {
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
        emitEvent(
          pod,
          'Pulled',
          `Container image "${String(container.image)}" already present on machine`,
          'kubelet',
          fieldPath,
        );
        emitEvent(
          pod,
          'Created',
          `Created container: ${String(container.name)}`,
          'kubelet',
          fieldPath,
        );
        emitEvent(
          pod,
          'Started',
          `Started container ${String(container.name)}`,
          'kubelet',
          fieldPath,
        );
      }
    }
    const now = rfc3339(store.now());
    const podIp = allocatePodIp();
    const containerStatus = (container: Mutable, running: boolean): Mutable => ({
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
      const condition = (type: string): Mutable => ({
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
  };

  const terminateNamespace = (namespace: KubeObject): void => {
    const name = namespace.metadata.name;
    if (terminating.has(namespace.metadata.uid ?? name)) return;
    terminating.add(namespace.metadata.uid ?? name);
    const deleteContent = (): void => {
      for (const type of RESOURCE_TYPES) {
        if (!type.namespaced || !type.stored) continue;
        for (const object of store.list(type.kind, { namespace: name })) {
          try {
            store.delete(type.kind, name, object.metadata.name);
          } catch (error) {
            if (!isIgnorable(error)) throw error;
          }
        }
      }
    };
    deleteContent();
    later(settings.namespaceDeletionMs, () => {
      deleteContent();
      store.modify('Namespace', undefined, name, (draft) => {
        draft.spec = { ...asRecord(draft.spec), finalizers: [] };
      });
    });
  };

  const collectGarbage = (owner: KubeObject): void => {
    const namespace = owner.metadata.namespace;
    if (namespace === undefined) return;
    for (const type of RESOURCE_TYPES) {
      if (!type.namespaced || !type.stored) continue;
      for (const dependent of store.list(type.kind, { namespace })) {
        if (!ownedBy(dependent, owner)) continue;
        try {
          store.delete(type.kind, namespace, dependent.metadata.name);
        } catch (error) {
          if (!isIgnorable(error)) throw error;
        }
      }
    }
  };

  const onEvent = (event: StoreEvent): void => {
    const object = event.object;
    const namespace = object.metadata.namespace;
    switch (object.kind) {
      case 'Namespace':
        if (event.type === 'ADDED') populateNamespace(store, object, settings.rootCaPem);
        if (event.type === 'MODIFIED' && object.metadata.deletionTimestamp !== undefined)
          terminateNamespace(object);
        if (event.type === 'DELETED')
          terminating.delete(object.metadata.uid ?? object.metadata.name);
        break;
      case 'Deployment': {
        if (event.type === 'DELETED') break;
        const current = store.get('Deployment', namespace, object.metadata.name);
        if (current !== undefined) reconcileDeployment(current);
        break;
      }
      case 'ReplicaSet': {
        if (event.type === 'DELETED') {
          const deployment = controllerOf(object, 'Deployment');
          if (deployment !== undefined) updateDeploymentStatus(deployment);
          break;
        }
        const current = store.get('ReplicaSet', namespace, object.metadata.name);
        if (current !== undefined) reconcileReplicaSet(current);
        break;
      }
      case 'Pod': {
        if (event.type === 'ADDED' && asRecord(object.spec).nodeName === undefined)
          schedulePod(object);
        if (event.type === 'DELETED')
          store.logs.removePod(namespace ?? 'default', object.metadata.name);
        const replicaSet = controllerOf(object, 'ReplicaSet');
        if (replicaSet !== undefined) reconcileReplicaSet(replicaSet);
        break;
      }
      default:
        break;
    }
    if (event.type === 'DELETED') collectGarbage(object);
  };

  const unsubscribe = store.watch((event) => {
    if (stopped) return;
    try {
      onEvent(event);
    } catch (error) {
      if (!isIgnorable(error)) throw error;
    }
  });

  return {
    stop() {
      stopped = true;
      unsubscribe();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The `pod-template-hash` of a Deployment's template: 10 characters of Kubernetes' safe alphabet. */
export function podTemplateHash(template: unknown): string {
  const digest = createHash('sha256').update(JSON.stringify(template)).digest();
  return Array.from(
    digest.subarray(0, 10),
    (byte) => SAFE_ALPHABET[byte % SAFE_ALPHABET.length] ?? 'x',
  ).join('');
}

function controllerReference(owner: KubeObject): {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
  blockOwnerDeletion: boolean;
} {
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

function populateNamespace(store: ObjectStore, namespace: KubeObject, rootCaPem: string): void {
  const name = namespace.metadata.name;
  const create = (object: KubeObject): void => {
    try {
      store.create(object);
    } catch (error) {
      if (!isIgnorable(error)) throw error;
    }
  };
  // What the service-account and root-CA-publisher controllers put in every namespace.
  create({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'default', namespace: name },
  });
  create({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: 'kube-root-ca.crt',
      namespace: name,
      annotations: {
        'kubernetes.io/description':
          'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.',
      },
    },
    data: { 'ca.crt': rootCaPem },
  });
}

// ---------------------------------------------------------------------------------------
// Admission plugins.

function namespaceLifecycle(request: AdmissionRequest, store: ObjectStore): KubeObject {
  const { type, object } = request;
  if (request.operation !== 'CREATE' || !type.namespaced) return object;
  const namespaceName = object.metadata.namespace ?? 'default';
  const namespaceType = resourceTypeForKind('Namespace');
  const namespace = store.get('Namespace', undefined, namespaceName);
  if (namespace === undefined && namespaceType !== undefined)
    throw notFoundError(namespaceType, namespaceName);
  if (namespace?.metadata.deletionTimestamp !== undefined) {
    throw forbiddenError(
      type,
      object.metadata.name || text(object.metadata.generateName, ''),
      `unable to create new content in namespace ${namespaceName} because it is being terminated`,
      [
        {
          reason: 'NamespaceTerminating',
          message: `namespace ${namespaceName} is being terminated`,
          field: 'metadata.namespace',
        },
      ],
    );
  }
  return object;
}

function defaultNamespace(request: AdmissionRequest): KubeObject {
  const object = request.object;
  // The NamespaceDefaultLabelName admission: always present, always the name.
  object.metadata.labels = {
    ...object.metadata.labels,
    'kubernetes.io/metadata.name': object.metadata.name,
  };
  if (request.operation === 'CREATE') {
    const spec = asRecord(object.spec);
    object.spec = {
      ...spec,
      finalizers: Array.isArray(spec.finalizers) ? spec.finalizers : ['kubernetes'],
    };
    object.status = { phase: 'Active' };
  }
  return object;
}

function defaultService(request: AdmissionRequest, allocate: () => string): KubeObject {
  const object = request.object;
  const spec = asRecord(object.spec);
  const previousSpec = asRecord(request.previous?.spec);
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  spec.internalTrafficPolicy ??= 'Cluster';
  if (spec.type !== 'ExternalName') {
    spec.clusterIP ??= previousSpec.clusterIP ?? allocate();
    spec.clusterIPs = [spec.clusterIP];
    spec.ipFamilies ??= ['IPv4'];
    spec.ipFamilyPolicy ??= 'SingleStack';
  }
  spec.ports = asArray(spec.ports).map((port) => ({
    ...port,
    protocol: port.protocol ?? 'TCP',
    targetPort: port.targetPort ?? port.port,
  }));
  object.spec = spec;
  if (request.operation === 'CREATE') object.status = { loadBalancer: {} };
  return object;
}

function defaultDeployment(request: AdmissionRequest): KubeObject {
  const object = request.object;
  const spec = asRecord(object.spec);
  spec.replicas ??= 1;
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  spec.strategy ??= {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' },
  };
  object.spec = spec;
  if (request.operation === 'CREATE') object.status = {};
  return object;
}

function defaultPod(object: KubeObject): KubeObject {
  const spec = asRecord(object.spec);
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.serviceAccountName ??= spec.serviceAccount ?? 'default';
  spec.serviceAccount ??= spec.serviceAccountName;
  spec.enableServiceLinks ??= true;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  spec.priority ??= 0;
  spec.securityContext ??= {};
  const defaultContainer = (container: Mutable): Mutable => ({
    ...container,
    imagePullPolicy:
      container.imagePullPolicy ??
      (/:latest$|^[^:]*$/.test(String(container.image)) ? 'Always' : 'IfNotPresent'),
    terminationMessagePath: container.terminationMessagePath ?? '/dev/termination-log',
    terminationMessagePolicy: container.terminationMessagePolicy ?? 'File',
    resources: container.resources ?? {},
  });
  spec.containers = asArray(spec.containers).map(defaultContainer);
  if (spec.initContainers !== undefined)
    spec.initContainers = asArray(spec.initContainers).map(defaultContainer);
  object.spec = spec;
  object.status = { phase: 'Pending', qosClass: 'BestEffort' };
  return object;
}

/** The Istio image hub and tag, read from istiod's image; undefined when Istio is not installed. */
function installedIstio(store: ObjectStore): { hub: string; tag: string } | undefined {
  const istiod = store.get('Deployment', 'istio-system', 'istiod');
  if (istiod === undefined) return undefined;
  const containers = asArray(asRecord(asRecord(asRecord(istiod.spec).template).spec).containers);
  const image = text(containers.find((container) => container.name === 'discovery')?.image);
  const match = /^(.*)\/pilot:(.+)$/.exec(image);
  if (match === null) return undefined;
  return { hub: match[1] ?? '', tag: match[2] ?? '' };
}

/**
 * Whether Istio's injector would inject this pod: namespace label `istio-injection`
 * (enabled/disabled) wins, then the pod label `sidecar.istio.io/inject`.
 */
export function wantsSidecar(
  namespaceLabels: Record<string, string> | undefined,
  pod: KubeObject,
): boolean {
  const namespaceSetting = namespaceLabels?.['istio-injection'];
  const podSetting =
    pod.metadata.labels?.['sidecar.istio.io/inject'] ??
    pod.metadata.annotations?.['sidecar.istio.io/inject'];
  if (namespaceSetting === 'disabled') return false;
  if (namespaceSetting === 'enabled') return podSetting !== 'false';
  return podSetting === 'true';
}

function injectSidecar(pod: KubeObject, store: ObjectStore): KubeObject {
  const namespaceName = pod.metadata.namespace ?? 'default';
  if (['kube-system', 'kube-public'].includes(namespaceName)) return pod;
  if (pod.metadata.annotations?.['sidecar.istio.io/status'] !== undefined) return pod;
  const spec = asRecord(pod.spec);
  if (spec.hostNetwork === true) return pod;
  const namespace = store.get('Namespace', undefined, namespaceName);
  if (!wantsSidecar(namespace?.metadata.labels, pod)) return pod;
  const istio = installedIstio(store);
  if (istio === undefined) return pod;
  const image = `${istio.hub}/proxyv2:${istio.tag}`;
  const appContainers = asArray(spec.containers);
  const firstApp = text(appContainers[0]?.name, '');
  const labels = pod.metadata.labels ?? {};
  const workloadName =
    pod.metadata.ownerReferences?.[0]?.name.replace(/-[^-]+$/, '') ?? pod.metadata.name;
  const volumes = [
    'workload-socket',
    'credential-socket',
    'workload-certs',
    'istio-envoy',
    'istio-data',
    'istio-podinfo',
    'istio-token',
    'istiod-ca-cert',
  ];
  pod.metadata.labels = {
    ...labels,
    'security.istio.io/tlsMode': 'istio',
    'service.istio.io/canonical-name':
      labels['service.istio.io/canonical-name'] ??
      labels['app.kubernetes.io/name'] ??
      labels.app ??
      workloadName,
    'service.istio.io/canonical-revision':
      labels['service.istio.io/canonical-revision'] ??
      labels['app.kubernetes.io/version'] ??
      labels.version ??
      'latest',
  };
  pod.metadata.annotations = {
    ...pod.metadata.annotations,
    'istio.io/rev': 'default',
    'kubectl.kubernetes.io/default-container': firstApp,
    'kubectl.kubernetes.io/default-logs-container': firstApp,
    'prometheus.io/path': '/stats/prometheus',
    'prometheus.io/port': '15020',
    'prometheus.io/scrape': 'true',
    'sidecar.istio.io/status': JSON.stringify({
      initContainers: ['istio-init'],
      containers: ['istio-proxy'],
      volumes,
      imagePullSecrets: null,
      revision: 'default',
    }),
  };
  spec.initContainers = [
    ...asArray(spec.initContainers),
    {
      name: 'istio-init',
      image,
      args: [
        'istio-iptables',
        '-p',
        '15001',
        '-z',
        '15006',
        '-u',
        '1337',
        '-m',
        'REDIRECT',
        '-i',
        '*',
        '-x',
        '',
        '-b',
        '*',
        '-d',
        '15090,15021,15020',
        '--log_output_level=default:info',
      ],
      imagePullPolicy: 'IfNotPresent',
      resources: {
        limits: { cpu: '2', memory: '1Gi' },
        requests: { cpu: '100m', memory: '128Mi' },
      },
      securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
        privileged: false,
        readOnlyRootFilesystem: false,
        runAsGroup: 0,
        runAsNonRoot: false,
        runAsUser: 0,
      },
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
    },
  ];
  spec.containers = [
    ...appContainers,
    {
      name: 'istio-proxy',
      image,
      args: [
        'proxy',
        'sidecar',
        '--domain',
        '$(POD_NAMESPACE).svc.cluster.local',
        '--proxyLogLevel=warning',
        '--proxyComponentLogLevel=misc:error',
        '--log_output_level=default:info',
      ],
      env: [
        { name: 'PILOT_CERT_PROVIDER', value: 'istiod' },
        { name: 'CA_ADDR', value: 'istiod.istio-system.svc:15012' },
        {
          name: 'POD_NAME',
          valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } },
        },
        {
          name: 'POD_NAMESPACE',
          valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
        },
        {
          name: 'INSTANCE_IP',
          valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } },
        },
        {
          name: 'SERVICE_ACCOUNT',
          valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.serviceAccountName' } },
        },
        { name: 'ISTIO_META_WORKLOAD_NAME', value: workloadName },
        { name: 'ISTIO_META_CLUSTER_ID', value: 'Kubernetes' },
        { name: 'ISTIO_META_MESH_ID', value: 'cluster.local' },
        { name: 'TRUST_DOMAIN', value: 'cluster.local' },
      ],
      ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
      readinessProbe: {
        failureThreshold: 4,
        httpGet: { path: '/healthz/ready', port: 15021, scheme: 'HTTP' },
        periodSeconds: 15,
        successThreshold: 1,
        timeoutSeconds: 3,
      },
      imagePullPolicy: 'IfNotPresent',
      resources: {
        limits: { cpu: '2', memory: '1Gi' },
        requests: { cpu: '100m', memory: '128Mi' },
      },
      securityContext: {
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        privileged: false,
        readOnlyRootFilesystem: true,
        runAsGroup: 1337,
        runAsNonRoot: true,
        runAsUser: 1337,
      },
      terminationMessagePath: '/dev/termination-log',
      terminationMessagePolicy: 'File',
      volumeMounts: [
        { mountPath: '/var/run/secrets/workload-spiffe-uds', name: 'workload-socket' },
        { mountPath: '/var/run/secrets/credential-uds', name: 'credential-socket' },
        { mountPath: '/var/run/secrets/workload-spiffe-credentials', name: 'workload-certs' },
        { mountPath: '/var/run/secrets/istio', name: 'istiod-ca-cert' },
        { mountPath: '/var/lib/istio/data', name: 'istio-data' },
        { mountPath: '/etc/istio/proxy', name: 'istio-envoy' },
        { mountPath: '/var/run/secrets/tokens', name: 'istio-token' },
        { mountPath: '/etc/istio/pod', name: 'istio-podinfo' },
      ],
    },
  ];
  spec.volumes = [
    ...asArray(spec.volumes),
    { name: 'workload-socket', emptyDir: {} },
    { name: 'credential-socket', emptyDir: {} },
    { name: 'workload-certs', emptyDir: {} },
    { name: 'istio-envoy', emptyDir: { medium: 'Memory' } },
    { name: 'istio-data', emptyDir: {} },
    {
      name: 'istio-podinfo',
      downwardAPI: {
        items: [
          { fieldRef: { fieldPath: 'metadata.labels' }, path: 'labels' },
          { fieldRef: { fieldPath: 'metadata.annotations' }, path: 'annotations' },
        ],
      },
    },
    {
      name: 'istio-token',
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: 'istio-ca',
              expirationSeconds: 43200,
              path: 'istio-token',
            },
          },
        ],
      },
    },
    { name: 'istiod-ca-cert', configMap: { name: 'istio-ca-root-cert' } },
  ];
  if (injectsNativeSidecars(istio.tag, kubeletVersions(store)))
    moveProxyToInitContainers(pod, spec);
  pod.spec = spec;
  pod.status = { ...pod.status, qosClass: 'Burstable' };
  return pod;
}

function kubeletVersions(store: ObjectStore): string[] {
  return store
    .list('Node')
    .map((node) => text(asRecord(asRecord(node.status).nodeInfo).kubeletVersion));
}

/**
 * The native-sidecar layout of the injection template (Istio >= 1.27 on Kubernetes >= 1.33,
 * see NATIVE_SIDECARS): the proxy follows `istio-init` in `initContainers` with
 * `restartPolicy: Always`, and the status annotation lists it there.
 */
function moveProxyToInitContainers(pod: KubeObject, spec: Mutable): void {
  const containers = asArray(spec.containers);
  const proxy = containers.find((container) => container.name === PROXY_CONTAINER);
  if (proxy === undefined) return;
  spec.containers = containers.filter((container) => container !== proxy);
  spec.initContainers = [
    ...asArray(spec.initContainers),
    { ...proxy, restartPolicy: NATIVE_SIDECARS.restartPolicy },
  ];
  const annotations = pod.metadata.annotations ?? {};
  const status = JSON.parse(annotations['sidecar.istio.io/status'] ?? '{}') as {
    initContainers?: string[];
    containers?: string[] | null;
  };
  status.initContainers = [...(status.initContainers ?? []), PROXY_CONTAINER];
  status.containers = null;
  annotations['sidecar.istio.io/status'] = JSON.stringify(status);
  pod.metadata.annotations = annotations;
}

/** Whether a pod (as stored) carries an injected Istio sidecar. */
export function hasSidecar(pod: KubeObject): boolean {
  return hasProxy(pod) && pod.metadata.annotations?.['sidecar.istio.io/status'] !== undefined;
}

// ---------------------------------------------------------------------------------------
// The cluster `kind create cluster` leaves behind.

/** Knobs of `seedBaseCluster`. */
export interface BaseClusterOptions {
  nodeName?: string;
  nodeIp?: string;
  kubernetesVersion?: string;
}

/**
 * Creates what a fresh kind cluster has: its node, the system namespaces, the
 * `kubernetes` service and CoreDNS (`kube-dns`, labels `k8s-app=kube-dns`) in kube-system.
 */
export function seedBaseCluster(store: ObjectStore, options: BaseClusterOptions = {}): void {
  const nodeName = options.nodeName ?? CONTROLLER_DEFAULTS.nodeName;
  const nodeIp = options.nodeIp ?? CONTROLLER_DEFAULTS.nodeIp;
  const version = options.kubernetesVersion ?? 'v1.36.1';
  const now = rfc3339(store.now());
  store.create({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: nodeName,
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': nodeName,
        'kubernetes.io/os': 'linux',
        'node-role.kubernetes.io/control-plane': '',
      },
    },
    spec: {
      podCIDR: '10.244.0.0/24',
      podCIDRs: ['10.244.0.0/24'],
      providerID: `kind://docker/egress-conformance/${nodeName}`,
    },
    status: {
      addresses: [
        { type: 'InternalIP', address: nodeIp },
        { type: 'Hostname', address: nodeName },
      ],
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
      nodeInfo: {
        architecture: 'amd64',
        containerRuntimeVersion: 'containerd://2.1.4',
        kernelVersion: '6.8.0',
        kubeProxyVersion: version,
        kubeletVersion: version,
        operatingSystem: 'linux',
        osImage: 'Debian GNU/Linux 12 (bookworm)',
      },
    },
  });
  for (const name of [
    'default',
    'kube-system',
    'kube-public',
    'kube-node-lease',
    'local-path-storage',
  ]) {
    store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  store.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'kubernetes',
      namespace: 'default',
      labels: { component: 'apiserver', provider: 'kubernetes' },
    },
    spec: {
      clusterIP: '10.96.0.1',
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
    },
  });
  const dnsLabels = { 'k8s-app': 'kube-dns' };
  store.create({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: 'kube-dns',
      namespace: 'kube-system',
      labels: {
        ...dnsLabels,
        'kubernetes.io/cluster-service': 'true',
        'kubernetes.io/name': 'CoreDNS',
      },
    },
    spec: {
      clusterIP: '10.96.0.10',
      selector: dnsLabels,
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
      ],
    },
  });
  store.create({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'coredns', namespace: 'kube-system', labels: dnsLabels },
    spec: {
      replicas: 2,
      selector: { matchLabels: dnsLabels },
      template: {
        metadata: { labels: dnsLabels },
        spec: {
          serviceAccountName: 'coredns',
          containers: [
            {
              name: 'coredns',
              image: 'registry.k8s.io/coredns/coredns:v1.12.1',
              args: ['-conf', '/etc/coredns/Corefile'],
              ports: [
                { containerPort: 53, name: 'dns', protocol: 'UDP' },
                { containerPort: 53, name: 'dns-tcp', protocol: 'TCP' },
                { containerPort: 9153, name: 'metrics', protocol: 'TCP' },
              ],
            },
          ],
        },
      },
    },
  });
  store.create({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'coredns', namespace: 'kube-system' },
  });
}
