/**
 * Strategic merge patch as the API server applies it to built-in kinds: kubernetes/
 * apimachinery `pkg/util/strategicpatch/patch.go` (`StrategicMergeMapPatchUsingLookupPatchMeta`
 * with MergeParallelList and IgnoreUnmatchedNulls), release-1.32 to release-1.36. Lists merge
 * by their merge key where the Go types say so (STRATEGIC_MERGE_LISTS in
 * harness/facts/kube-api.ts) and are replaced otherwise; the directives `$patch`,
 * `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>` that
 * `kubectl apply` and `kubectl patch --type strategic` send are honoured.
 */
import { STRATEGIC_MERGE_LISTS } from '../../harness/facts/kube-api.ts';
import { isRecord, type Json } from '../json.ts';
import { badRequestError } from '../store/errors.ts';
import { cloneObject } from '../store/object-store.ts';

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ORDER = '$setElementOrder';
const DELETE_FROM_LIST = '$deleteFromPrimitiveList';

interface ListMeta {
  merge: boolean;
  key: string;
}

/** The patch strategy of the list at `path` (map keys; `*` for a list item). */
function listMeta(path: readonly string[]): ListMeta {
  const dotted = path.join('.');
  const found = STRATEGIC_MERGE_LISTS.find((entry) => entry.path === dotted);
  return { merge: found !== undefined, key: found?.key ?? '' };
}

function patchError(message: string): Error {
  return badRequestError(message);
}

/** Applies `patch` to `original` (both plain JSON objects); neither is changed. */
export function applyStrategicMergePatch(original: Json, patch: Json): Json {
  return mergeMap(cloneObject(original), cloneObject(patch), []);
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'slice';
  if (isRecord(value)) return 'map';
  return typeof value;
}

function mergeMap(original: Json | undefined, patch: Json, path: string[]): Json {
  if (DIRECTIVE in patch) {
    const directive = patch[DIRECTIVE];
    if (directive === 'replace') {
      delete patch[DIRECTIVE];
      return patch;
    }
    if (directive === 'delete') return {};
    throw patchError(`unknown patch type: ${String(directive)} in map: ${goMap(patch)}`);
  }
  const target = original ?? {};
  applyRetainKeys(target, patch);
  mergeSetElementOrder(target, patch, path);
  for (const [rawKey, patchValue] of Object.entries(patch)) {
    let key = rawKey;
    let deleteList = false;
    if (rawKey.startsWith(`${DELETE_FROM_LIST}/`)) {
      key = rawKey.slice(DELETE_FROM_LIST.length + 1);
      deleteList = true;
    }
    if (patchValue === null) {
      delete target[key];
      continue;
    }
    if (!(key in target)) {
      if (!deleteList) {
        discardNulls(patchValue);
        const [value, keep] = removeDirectives(patchValue);
        if (keep) target[key] = value;
      }
      continue;
    }
    if (kindOf(target[key]) !== kindOf(patchValue)) {
      if (!deleteList) {
        discardNulls(patchValue);
        const [value, keep] = removeDirectives(patchValue);
        if (keep) target[key] = value;
        else delete target[key];
      }
      continue;
    }
    const childPath = [...path, key];
    if (isRecord(patchValue)) target[key] = mergeMap(target[key] as Json, patchValue, childPath);
    else if (Array.isArray(patchValue)) {
      const meta = listMeta(childPath);
      target[key] =
        meta.merge || deleteList
          ? mergeSlice(
              target[key] as unknown[],
              patchValue as unknown[],
              meta.key,
              deleteList,
              childPath,
            )
          : patchValue;
    } else {
      const [value, keep] = removeDirectives(patchValue);
      if (keep) target[key] = value;
      else delete target[key];
    }
  }
  return target;
}

function discardNulls(value: unknown): void {
  if (Array.isArray(value)) for (const item of value) discardNulls(item);
  else if (isRecord(value))
    for (const [key, child] of Object.entries(value)) {
      if (child === null) delete value[key];
      else discardNulls(child);
    }
}

/** removeDirectives: the value without `$patch` maps, and whether to keep it at all. */
function removeDirectives(value: unknown): [unknown, boolean] {
  if (isRecord(value)) {
    if (DIRECTIVE in value) return [undefined, false];
    for (const [key, child] of Object.entries(value)) {
      const [cleaned, keep] = removeDirectives(child);
      if (keep) value[key] = cleaned;
      else delete value[key];
    }
    return [value, true];
  }
  if (Array.isArray(value)) {
    const result: unknown[] = [];
    for (const item of value) {
      const [cleaned, keep] = removeDirectives(item);
      if (keep) result.push(cleaned);
    }
    return [result, true];
  }
  return [value, true];
}

function applyRetainKeys(original: Json, patch: Json): void {
  if (!(RETAIN_KEYS in patch)) return;
  const retain = patch[RETAIN_KEYS];
  delete patch[RETAIN_KEYS];
  if (!Array.isArray(retain)) throw patchError('invalid patch format of retainKeys');
  const keep = new Set(retain as unknown[]);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null || key.startsWith(DELETE_FROM_LIST) || key.startsWith(SET_ORDER)) continue;
    if (!keep.has(key)) throw patchError('invalid patch format of retainKeys');
  }
  for (const key of Object.keys(original)) if (!keep.has(key)) delete original[key];
}

function mergeSetElementOrder(original: Json, patch: Json, path: string[]): void {
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith(SET_ORDER)) continue;
    delete patch[key];
    if (!Array.isArray(order)) throw patchError('invalid patch format of setElementOrder list');
    if (!key.startsWith(`${SET_ORDER}/`))
      throw patchError('invalid patch format of setElementOrder list');
    const listKey = key.slice(SET_ORDER.length + 1);
    const originalList = original[listKey];
    const patchList = patch[listKey];
    const foundOriginal = listKey in original;
    const foundPatch = listKey in patch;
    if (!foundOriginal && !foundPatch) continue;
    const meta = listMeta([...path, listKey]);
    let merged: unknown[];
    if (foundOriginal && !foundPatch) merged = asList(originalList);
    else if (!foundOriginal) merged = removeDirectives(asList(patchList))[0] as unknown[];
    else
      merged = meta.merge
        ? mergeSlice(asList(originalList), asList(patchList), meta.key, false, [...path, listKey])
        : asList(patchList);
    const [patchItems, serverOnly] = partition(merged, order as unknown[], meta.key);
    const isMap = [...asList(originalList), ...asList(patchList)].some(isRecord);
    original[listKey] = normalizeElementOrder(
      patchItems,
      serverOnly,
      order as unknown[],
      asList(originalList),
      meta.key,
      isMap,
    );
    delete patch[listKey];
  }
}

function asList(value: unknown): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value))
    throw patchError(`expected a []interface {}, but received a ${goType(value)}`);
  return value as unknown[];
}

function goType(value: unknown): string {
  if (isRecord(value)) return 'map[string]interface {}';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'number') return 'float64';
  if (typeof value === 'boolean') return 'bool';
  return '<nil>';
}

function goMap(value: Json): string {
  return `map[${Object.entries(value)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}:${isRecord(v) ? goMap(v) : String(v)}`)
    .join(' ')}]`;
}

/** The merge-key value (maps) or the item itself (scalars), for comparisons. */
function identity(item: unknown, key: string, isMap: boolean): unknown {
  return isMap ? (isRecord(item) ? item[key] : undefined) : item;
}

function indexIn(list: readonly unknown[], item: unknown, key: string, isMap: boolean): number {
  const wanted = identity(item, key, isMap);
  return list.findIndex((candidate) => identity(candidate, key, isMap) === wanted);
}

function mergeSlice(
  original: unknown[],
  patch: unknown[],
  key: string,
  deleteList: boolean,
  path: string[],
): unknown[] {
  if (original.length === 0 && patch.length === 0) return original;
  const all = [...original, ...patch];
  if (all.some(Array.isArray)) throw patchError('lists of lists are not supported');
  const kinds = new Set(all.map(kindOf));
  if (kinds.size > 1) throw patchError('list element types are not identical');
  const isMap = kinds.has('map');
  let merged: unknown[];
  let base = original;
  let patchItems = patch;
  if (!isMap) {
    if (deleteList) return original.filter((item) => !patch.includes(item));
    merged = deduplicateScalars([...original, ...patch]);
  } else {
    if (key === '') throw patchError(`cannot merge lists without merge key for ${path.join('.')}`);
    [base, patchItems] = mergeSpecialElements(original, patch, key);
    merged = [...base];
    for (const item of patchItems) {
      const record = item as Json;
      if (!(key in record))
        throw patchError(`map: ${goMap(record)} does not contain declared merge key: ${key}`);
      const found = indexIn(merged, record, key, true);
      if (found >= 0) merged[found] = mergeMap(merged[found] as Json, record, [...path, '*']);
      else merged.push(item);
    }
  }
  const [inPatch, serverOnly] = partition(merged, patchItems, key);
  return normalizeElementOrder(inPatch, serverOnly, patchItems, base, key, isMap);
}

function mergeSpecialElements(
  original: unknown[],
  patch: unknown[],
  key: string,
): [unknown[], unknown[]] {
  let result = [...original];
  const plain: unknown[] = [];
  let replace = false;
  for (const item of patch) {
    const record = item as Json;
    if (!(DIRECTIVE in record)) {
      plain.push(item);
      continue;
    }
    const directive = record[DIRECTIVE];
    if (directive === 'delete') {
      if (!(key in record))
        throw patchError(`map: ${goMap(record)} does not contain declared merge key: ${key}`);
      result = result.filter((candidate) => identity(candidate, key, true) !== record[key]);
    } else if (directive === 'replace') replace = true;
    else if (directive === 'merge')
      throw patchError('merging lists cannot yet be specified in the patch');
    else throw patchError(`unknown patch type: ${String(directive)} in map: ${goMap(record)}`);
  }
  return replace ? [plain, []] : [result, plain];
}

/** Go's deduplicateScalars, which moves the last element into each duplicate's place. */
function deduplicateScalars(items: unknown[]): unknown[] {
  const s = [...items];
  let length = s.length - 1;
  for (let i = 0; i < length; i += 1) {
    for (let j = i + 1; j <= length; j += 1) {
      if (s[i] === s[j]) {
        s[j] = s[length];
        s.length = length;
        length -= 1;
        j -= 1;
      }
    }
  }
  return s;
}

function partition(
  items: readonly unknown[],
  by: readonly unknown[],
  key: string,
): [unknown[], unknown[]] {
  const isMap = items.some(isRecord);
  const inPatch: unknown[] = [];
  const serverOnly: unknown[] = [];
  for (const item of items) (indexIn(by, item, key, isMap) >= 0 ? inPatch : serverOnly).push(item);
  return [inPatch, serverOnly];
}

/** normalizeSliceOrder: Go's stable insertion sort with a comparator that is not an order. */
function normalizeSliceOrder(
  toSort: unknown[],
  order: readonly unknown[],
  key: string,
  isMap: boolean,
): unknown[] {
  let items = [...toSort];
  let deletions: unknown[] = [];
  if (isMap) {
    deletions = items.filter((item) => isRecord(item) && item[DIRECTIVE] === 'delete');
    items = items.filter((item) => !(isRecord(item) && item[DIRECTIVE] === 'delete'));
  }
  const less = (a: unknown, b: unknown): boolean => {
    const ia = indexIn(order, a, key, isMap);
    if (ia < 0) return true;
    const ib = indexIn(order, b, key, isMap);
    return ib < 0 ? true : ia < ib;
  };
  for (let i = 1; i < items.length; i += 1)
    for (let j = i; j > 0 && less(items[j], items[j - 1]); j -= 1)
      [items[j], items[j - 1]] = [items[j - 1], items[j]];
  return [...items, ...deletions];
}

function normalizeElementOrder(
  patch: unknown[],
  serverOnly: unknown[],
  patchOrder: readonly unknown[],
  serverOrder: readonly unknown[],
  key: string,
  isMap: boolean,
): unknown[] {
  const right = normalizeSliceOrder(patch, patchOrder, key, isMap);
  const left = normalizeSliceOrder(serverOnly, serverOrder, key, isMap);
  const result: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) result.push(right[j++]);
    else if (j >= right.length) result.push(left[i++]);
    else {
      const li = indexIn(serverOrder, left[i], key, isMap);
      const ri = indexIn(serverOrder, right[j], key, isMap);
      if (li >= 0 && ri >= 0 && li < ri) result.push(left[i++]);
      else result.push(right[j++]);
    }
  }
  return result;
}
