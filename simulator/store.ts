/** The store's public surface in one import, so callers need not know how store/ is cut. */
export {
  ApiError,
  alreadyExistsError,
  badRequestError,
  conflictError,
  forbiddenError,
  invalidError,
  notFoundError,
  type StatusCause,
  type StatusDetails,
} from './store/errors.ts';
export { ContainerLogs, formatLogTimestamp, type LogEntry } from './store/logs.ts';
export {
  cloneObject,
  ObjectStore,
  type AdmissionHook,
  type AdmissionRequest,
  type DeleteResult,
  type ListOptions,
  type ObjectStoreOptions,
  type StoreEvent,
  type WriteOptions,
} from './store/object-store.ts';
export {
  groupVersion,
  qualifiedKind,
  qualifiedResource,
  RESOURCE_TYPES,
  resourceTypeForKind,
  type ResourceType,
} from './store/resource-types.ts';
export {
  matchesFieldRequirements,
  matchesLabelRequirements,
  matchesLabels,
  matchesLabelSelectorObject,
  parseFieldSelector,
  parseLabelSelector,
  type FieldRequirement,
  type LabelRequirement,
  type LabelSelectorObject,
} from './store/selectors.ts';
