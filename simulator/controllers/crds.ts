/**
 * The API server's CRD status: a stored CustomResourceDefinition gets `NamesAccepted` and
 * `Established` True (the simulated server has no name conflicts to find), its accepted names
 * and stored versions, as the naming controller writes them (CRD_CONDITIONS).
 */
import { CRD_CONDITIONS } from '../../harness/facts/custom-resources.ts';
import { asArray, asRecord, rfc3339, text } from '../json.ts';
import type { StoreEvent } from '../store/object-store.ts';
import type { ControllerContext } from './context.ts';

/** Sets the status of an added or changed CRD; level-triggered, so a replay changes nothing. */
export function onCrdEvent(context: ControllerContext, event: StoreEvent): void {
  if (event.type === 'DELETED') return;
  const { store } = context;
  const now = rfc3339(store.now());
  store.modify('CustomResourceDefinition', undefined, event.object.metadata.name, (draft) => {
    const spec = asRecord(draft.spec);
    const status = asRecord(draft.status);
    const previous = asArray(status.conditions);
    const condition = (wanted: { type: string; reason: string; message: string }) => {
      const old = previous.find((entry) => text(entry.type) === wanted.type);
      return {
        ...wanted,
        status: 'True',
        lastTransitionTime:
          old && text(old.status) === 'True' ? text(old.lastTransitionTime, now) : now,
      };
    };
    const storage = asArray(spec.versions)
      .filter((version) => version.storage === true)
      .map((version) => text(version.name));
    const stored = asArray(status.storedVersions).map((version) => text(version));
    draft.status = {
      ...status,
      acceptedNames: asRecord(spec.names),
      conditions: [condition(CRD_CONDITIONS.namesAccepted), condition(CRD_CONDITIONS.established)],
      storedVersions: [...new Set([...stored, ...storage])],
    };
  });
}
