/** The namespace controller: what every new namespace gets, and how a deleted one drains. */
import { asRecord } from '../json.ts';
import type { ObjectStore, StoreEvent } from '../store/object-store.ts';
import { RESOURCE_TYPES } from '../store/resource-types.ts';
import type { KubeObject } from '../types.ts';
import { isIgnorable, type ControllerContext } from './context.ts';

/** Namespace lifecycle; remembers which namespaces are already draining so each drains once. */
export class NamespaceController {
  readonly #context: ControllerContext;
  readonly #terminating = new Set<string>();

  constructor(context: ControllerContext) {
    this.#context = context;
  }

  onNamespaceEvent(event: StoreEvent): void {
    const object = event.object;
    const { store, settings } = this.#context;
    if (event.type === 'ADDED') populateNamespace(store, object, settings.rootCaPem);
    if (event.type === 'MODIFIED' && object.metadata.deletionTimestamp !== undefined)
      this.#terminate(object);
    if (event.type === 'DELETED')
      this.#terminating.delete(object.metadata.uid ?? object.metadata.name);
  }

  #terminate(namespace: KubeObject): void {
    const { store, settings } = this.#context;
    const name = namespace.metadata.name;
    if (this.#terminating.has(namespace.metadata.uid ?? name)) return;
    this.#terminating.add(namespace.metadata.uid ?? name);
    const deleteContent = (): void => {
      for (const type of RESOURCE_TYPES) {
        if (!type.namespaced || !type.stored) continue;
        for (const object of store.list(type.key, { namespace: name })) {
          try {
            store.delete(type.key, name, object.metadata.name);
          } catch (error) {
            if (!isIgnorable(error)) throw error;
          }
        }
      }
    };
    deleteContent();
    this.#context.later(settings.namespaceDeletionMs, () => {
      deleteContent();
      store.modify('Namespace', undefined, name, (draft) => {
        draft.spec = { ...asRecord(draft.spec), finalizers: [] };
      });
    });
  }
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
