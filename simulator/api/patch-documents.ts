/** Patch documents applied to plain objects, apart from the requests that carry them. */
import { asRecord, isRecord, sameValue, text, type Json } from '../json.ts';
import { ApiError, badRequestError } from '../store/errors.ts';
import { cloneObject } from '../store/object-store.ts';

/** RFC 7386 JSON merge patch. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return cloneObject(patch);
  const result: Json = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw jsonPatchError(`invalid JSON pointer "${pointer}"`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function jsonPatchError(message: string): ApiError {
  return new ApiError(
    422,
    'Invalid',
    `the server rejected our request due to an error in our request: ${message}`,
  );
}

/** RFC 6902 JSON patch; failures are 422 as on the real API server. */
export function applyJsonPatch(document: unknown, operations: unknown[]): unknown {
  let root: unknown = cloneObject(document);
  const parentOf = (path: string[], op: string): { parent: Json | unknown[]; key: string } => {
    let current: unknown = root;
    for (const token of path.slice(0, -1)) {
      if (Array.isArray(current)) current = current[Number(token)];
      else if (isRecord(current)) current = current[token];
      else current = undefined;
      if (current === undefined)
        throw jsonPatchError(
          `${op} operation does not apply: doc is missing path: "/${path.join('/')}"`,
        );
    }
    if (!Array.isArray(current) && !isRecord(current))
      throw jsonPatchError(
        `${op} operation does not apply: doc is missing path: "/${path.join('/')}"`,
      );
    return { parent: current, key: path.at(-1) ?? '' };
  };
  const get = (path: string[], op: string): unknown => {
    if (path.length === 0) return root;
    const { parent, key } = parentOf(path, op);
    const value = Array.isArray(parent) ? parent[Number(key)] : parent[key];
    if (value === undefined)
      throw jsonPatchError(
        `${op} operation does not apply: doc is missing key: /${path.join('/')}`,
      );
    return value;
  };
  const remove = (path: string[], op: string): unknown => {
    const value = get(path, op);
    const { parent, key } = parentOf(path, op);
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete parent[key];
    return value;
  };
  const add = (path: string[], value: unknown, op: string): void => {
    if (path.length === 0) {
      root = value;
      return;
    }
    const { parent, key } = parentOf(path, op);
    if (Array.isArray(parent)) {
      const index = key === '-' ? parent.length : Number(key);
      if (!Number.isInteger(index) || index < 0 || index > parent.length)
        throw jsonPatchError(`${op} operation does not apply: index out of bounds: ${key}`);
      parent.splice(index, 0, value);
    } else {
      parent[key] = value;
    }
  };
  for (const raw of operations) {
    const operation = asRecord(raw);
    const op = text(operation.op, '');
    const path = decodePointer(text(operation.path, ''));
    switch (op) {
      case 'add':
        add(path, cloneObject(operation.value), op);
        break;
      case 'remove':
        remove(path, op);
        break;
      case 'replace':
        get(path, op);
        if (path.length === 0) root = cloneObject(operation.value);
        else {
          const { parent, key } = parentOf(path, op);
          if (Array.isArray(parent)) parent[Number(key)] = cloneObject(operation.value);
          else parent[key] = cloneObject(operation.value);
        }
        break;
      case 'move':
        add(path, remove(decodePointer(text(operation.from, '')), op), op);
        break;
      case 'copy':
        add(path, cloneObject(get(decodePointer(text(operation.from, '')), op)), op);
        break;
      case 'test':
        if (!sameValue(get(path, op), operation.value))
          throw jsonPatchError(`testing value /${path.join('/')} failed: test failed`);
        break;
      default:
        throw badRequestError(`Unexpected kind: ${op}`);
    }
  }
  return root;
}

/** Server-side apply's merge of an applied configuration: maps merge, lists and scalars are replaced. */
export function mergeIntent(target: unknown, intent: unknown, keyedLists: boolean): unknown {
  if (keyedLists && isNamedList(target) && isNamedList(intent)) {
    // Built-in list-maps (containers, volumes, env, ports) merge by name, so that what
    // admission added (defaults, an injected sidecar) survives a re-apply. Custom
    // resources' lists are atomic, as Istio's CRDs declare them.
    const result = target.map((item) => {
      const applied = intent.find((candidate) => candidate.name === item.name);
      return applied === undefined ? item : (mergeIntent(item, applied, keyedLists) as Json);
    });
    for (const item of intent) {
      if (!target.some((existing) => existing.name === item.name)) result.push(cloneObject(item));
    }
    return result;
  }
  if (!isRecord(intent) || !isRecord(target)) return cloneObject(intent);
  const result: Json = { ...target };
  for (const [key, value] of Object.entries(intent)) {
    if (value === null) continue;
    result[key] = mergeIntent(result[key], value, keyedLists);
  }
  return result;
}

function isNamedList(value: unknown): value is (Json & { name: string })[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((item) => isRecord(item) && typeof item.name === 'string')
  );
}
