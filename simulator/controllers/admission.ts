/** The admission plugins that default and guard writes before the store keeps them. */
import { asArray, asRecord, text, type Json } from '../json.ts';
import { forbiddenError, notFoundError } from '../store/errors.ts';
import type { AdmissionRequest, ObjectStore } from '../store/object-store.ts';
import { resourceTypeForKind } from '../store/resource-types.ts';
import type { KubeObject } from '../types.ts';
import { injectSidecar } from './injector.ts';
import { defaultService } from './services.ts';

/** Registers the plugins in the order the API server runs them: lifecycle, then defaulting. */
export function registerAdmission(store: ObjectStore, allocateServiceIp: () => string): void {
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
}

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
  const defaultContainer = (container: Json): Json => ({
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
