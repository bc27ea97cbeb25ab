/** Field ownership (`metadata.managedFields`), which decides what server-side apply may change. */
import type { IncomingMessage } from 'node:http';
import { asArray, asRecord, isRecord, rfc3339, sameValue, text, type Json } from '../json.ts';
import { ApiError } from '../store/errors.ts';
import type { ResourceType } from '../store/resource-types.ts';
import type { KubeObject } from '../types.ts';

/** Fields of an object no field manager owns. */
const UNOWNED_PATHS = new Set([
  'apiVersion',
  'kind',
  'status',
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'metadata.resourceVersion',
  'metadata.generation',
  'metadata.creationTimestamp',
  'metadata.deletionTimestamp',
  'metadata.managedFields',
  'metadata.selfLink',
]);

/** One `managedFields` entry, its fields as NUL-joined paths. */
export interface ManagedEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  subresource?: string;
  paths: Set<string>;
}

// Paths are dotted field names joined by NUL, so that keys containing '.' (labels such
// as app.kubernetes.io/name) survive the round trip.
const SEPARATOR = '\u0000';

/** The leaf fields of `object` a manager can own. */
export function ownedLeafPaths(object: unknown, includeStatus = false): string[] {
  const paths: string[] = [];
  const walk = (value: unknown, prefix: string[]): void => {
    const dotted = prefix.join('.');
    if (prefix.length > 0 && UNOWNED_PATHS.has(dotted) && !(includeStatus && dotted === 'status'))
      return;
    if (isRecord(value) && Object.keys(value).length > 0) {
      for (const [key, child] of Object.entries(value)) walk(child, [...prefix, key]);
      return;
    }
    if (prefix.length > 0 && value !== null && value !== undefined)
      paths.push(prefix.join(SEPARATOR));
  };
  walk(object, []);
  return paths;
}

/** The value at a NUL-joined path. */
export function valueAt(object: unknown, path: string): unknown {
  let current: unknown = object;
  for (const segment of path.split(SEPARATOR)) {
    if (!isRecord(current)) return undefined;
    current = current[segment];
  }
  return current;
}

/** Removes the value at a NUL-joined path. */
export function deleteAt(object: Json, path: string): void {
  const segments = path.split(SEPARATOR);
  const parents: Json[] = [];
  let current: Json = object;
  for (const segment of segments.slice(0, -1)) {
    const next = current[segment];
    if (!isRecord(next)) return;
    parents.push(current);
    current = next;
  }
  delete current[segments.at(-1) ?? ''];
  // Maps emptied by the removal go too, as they would from an applied configuration.
  for (let index = segments.length - 2; index >= 0; index -= 1) {
    const parent = parents[index];
    const key = segments[index] ?? '';
    if (parent !== undefined && isRecord(parent[key]) && Object.keys(parent[key]).length === 0)
      delete parent[key];
    else break;
  }
}

function toFieldsV1(paths: Iterable<string>): Json {
  const root: Json = {};
  for (const path of paths) {
    let node = root;
    for (const segment of path.split(SEPARATOR)) {
      const key = `f:${segment}`;
      node[key] = asRecord(node[key]);
      node = node[key] as Json;
    }
  }
  return root;
}

function fromFieldsV1(fields: unknown): Set<string> {
  const paths = new Set<string>();
  const walk = (node: Json, prefix: string[]): void => {
    const children = Object.entries(node).filter(([key]) => key.startsWith('f:'));
    if (children.length === 0 && prefix.length > 0) paths.add(prefix.join(SEPARATOR));
    for (const [key, child] of children) walk(asRecord(child), [...prefix, key.slice(2)]);
  };
  walk(asRecord(fields), []);
  return paths;
}

/** Stored `managedFields` as entries with path sets. */
export function parseManagedFields(value: unknown): ManagedEntry[] {
  return asArray(value).map((entry) => ({
    manager: text(entry.manager, ''),
    operation: entry.operation === 'Apply' ? 'Apply' : 'Update',
    apiVersion: text(entry.apiVersion, ''),
    time: text(entry.time, ''),
    ...(typeof entry.subresource === 'string' ? { subresource: entry.subresource } : {}),
    paths: fromFieldsV1(entry.fieldsV1),
  }));
}

function managedToJson(entries: ManagedEntry[]): unknown[] {
  return entries
    .filter((entry) => entry.paths.size > 0)
    .map((entry) => ({
      manager: entry.manager,
      operation: entry.operation,
      apiVersion: entry.apiVersion,
      time: entry.time,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(entry.paths),
      ...(entry.subresource === undefined ? {} : { subresource: entry.subresource }),
    }));
}

/** The `managedFields` after `manager` applied exactly `applied`. */
export function recordApply(
  managed: ManagedEntry[],
  applied: Set<string>,
  manager: string,
  apiVersion: string,
  now: number,
): unknown[] {
  const others = managed.filter(
    (entry) => !(entry.manager === manager && entry.operation === 'Apply'),
  );
  return managedToJson([
    ...others,
    { manager, operation: 'Apply', apiVersion, time: rfc3339(now), paths: applied },
  ]);
}

/** An Update takes ownership of every field it changed; others lose those fields, without conflicts. */
export function recordUpdate(
  managed: ManagedEntry[],
  previous: KubeObject | undefined,
  next: KubeObject,
  manager: string,
  apiVersion: string,
  now: number,
): unknown[] {
  const operation = 'Update';
  const before = new Set(previous === undefined ? [] : ownedLeafPaths(previous));
  const after = ownedLeafPaths(next);
  const changed = new Set(
    after.filter(
      (path) => !before.has(path) || !sameValue(valueAt(previous, path), valueAt(next, path)),
    ),
  );
  const present = new Set(after);
  const entries = managed.map((entry) => ({
    ...entry,
    paths: new Set(
      [...entry.paths].filter(
        (path) => present.has(path) && !(changed.has(path) && entry.manager !== manager),
      ),
    ),
  }));
  if (changed.size > 0) {
    const mine = entries.find(
      (entry) => entry.manager === manager && entry.operation === operation,
    );
    if (mine === undefined)
      entries.push({ manager, operation, apiVersion, time: rfc3339(now), paths: changed });
    else {
      for (const path of changed) mine.paths.add(path);
      mine.time = rfc3339(now);
    }
  }
  return managedToJson(entries);
}

/** The 409 an apply gets when it would change fields another manager owns. */
export function applyConflict(
  type: ResourceType,
  name: string,
  conflicts: { manager: string; apiVersion: string; path: string }[],
): ApiError {
  const render = (path: string): string => `.${path.split(SEPARATOR).join('.')}`;
  const first = conflicts[0];
  const message =
    conflicts.length === 1 && first !== undefined
      ? `Apply failed with 1 conflict: conflict with "${first.manager}" using ${first.apiVersion}: ${render(first.path)}`
      : `Apply failed with ${conflicts.length} conflicts: ${conflicts
          .map(
            (conflict) =>
              `conflict with "${conflict.manager}" using ${conflict.apiVersion}: ${render(conflict.path)}`,
          )
          .join('\n')}`;
  return new ApiError(409, 'Conflict', message, {
    name,
    ...(type.group === '' ? {} : { group: type.group }),
    kind: type.plural,
    causes: conflicts.map((conflict) => ({
      reason: 'FieldManagerConflict',
      message: `conflict with "${conflict.manager}" using ${conflict.apiVersion}`,
      field: render(conflict.path),
    })),
  });
}

/** The field manager a write is recorded under. */
export function managerOf(query: URLSearchParams, headers: IncomingMessage['headers']): string {
  const explicit = query.get('fieldManager');
  if (explicit) return explicit;
  // What the API server does without fieldManager: the user agent up to the first '/'.
  const agent = text(headers['user-agent'], '').split('/')[0]?.trim() ?? '';
  return agent === '' ? 'unknown' : agent;
}
