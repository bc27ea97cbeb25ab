/**
 * Unknown fields: the API server drops them (Go decoding, CRD pruning) and, by the request's
 * `fieldValidation`, ignores them, warns (the default) or refuses the request (`Strict`,
 * which kubectl sends). Only the levels whose fields are listed in full are checked: the
 * top level, `metadata`, and the `spec` of Istio's kinds (FIELD_VALIDATION,
 * KNOWN_TOP_LEVEL_FIELDS, OBJECT_META_FIELDS in harness/facts/kube-api.ts; ISTIO_SPEC_FIELDS
 * in harness/facts/istio-validation.ts).
 */
import { ISTIO_SPEC_FIELDS } from '../../harness/facts/istio-validation.ts';
import {
  DEFAULT_TOP_LEVEL_FIELDS,
  FIELD_VALIDATION,
  KNOWN_TOP_LEVEL_FIELDS,
  OBJECT_META_FIELDS,
} from '../../harness/facts/kube-api.ts';
import { isRecord, type Json } from '../json.ts';
import { ApiError, badRequestError, invalidError } from '../store/errors.ts';
import type { ResourceType } from '../store/resource-types.ts';
import { parseBody } from './bodies.ts';
import type { ResourceCall } from './objects.ts';

/** The unknown fields of `object` as dotted paths, in document order. */
export function unknownFields(type: ResourceType, object: Json): string[] {
  const unknown: string[] = [];
  const top = new Set([
    'apiVersion',
    'kind',
    'metadata',
    ...(KNOWN_TOP_LEVEL_FIELDS[type.kind] ?? DEFAULT_TOP_LEVEL_FIELDS),
  ]);
  for (const key of Object.keys(object)) if (!top.has(key)) unknown.push(key);
  if (isRecord(object.metadata))
    for (const key of Object.keys(object.metadata))
      if (!OBJECT_META_FIELDS.includes(key)) unknown.push(`metadata.${key}`);
  const specFields = type.custom ? ISTIO_SPEC_FIELDS[type.key] : undefined;
  if (specFields !== undefined && isRecord(object.spec))
    for (const key of Object.keys(object.spec))
      if (!specFields.includes(key)) unknown.push(`spec.${key}`);
  return unknown;
}

/** Drops the unknown fields, as decoding and pruning do. */
export function pruneUnknownFields(type: ResourceType, object: Json): void {
  for (const path of unknownFields(type, object)) {
    const [first = '', second] = path.split('.');
    if (second === undefined) delete object[first];
    else if (isRecord(object[first])) delete object[first][second];
  }
}

function directive(query: URLSearchParams): string {
  const value = query.get(FIELD_VALIDATION.queryParameter) ?? 'Warn';
  if (!(FIELD_VALIDATION.values as readonly string[]).includes(value))
    throw badRequestError(
      `fieldValidation: Unsupported value: "${value}": supported values: "Ignore", "Warn", "Strict"`,
    );
  return value;
}

function describe(unknown: readonly string[]): string {
  return unknown.map((path) => `unknown field "${path}"`).join(', ');
}

/** POST and PUT: refuses (Strict) or warns about (Warn) the body's unknown fields. */
export function checkStrictFields(method: string, call: ResourceCall): void {
  if (method !== 'POST' && method !== 'PUT') return;
  if (!call.resource.type.stored) return;
  // An eviction's body is an Eviction, not the Pod the path names (api/eviction.ts).
  if (call.resource.subresource === 'eviction') return;
  const mode = directive(call.query);
  if (mode === 'Ignore') return;
  let parsed: unknown;
  try {
    parsed = parseBody(call.body, call.headers['content-type']);
  } catch (error) {
    if (error instanceof ApiError) return;
    throw error;
  }
  if (!isRecord(parsed)) return;
  const unknown = unknownFields(call.resource.type, parsed);
  if (unknown.length === 0) return;
  if (mode === 'Warn') {
    call.warnings.push(...unknown.map((path) => `unknown field "${path}"`));
    return;
  }
  const { kind } = call.resource.type;
  throw badRequestError(
    `${kind} in version "${call.resource.version}" cannot be handled as a ${kind}: ${FIELD_VALIDATION.strictPrefix}${describe(unknown)}`,
  );
}

/** Non-apply PATCH: the patched object's unknown fields (patch.go `applyPatch`). */
export function checkPatchedFields(call: ResourceCall, patched: Json): void {
  const mode = directive(call.query);
  if (mode === 'Ignore') return;
  const unknown = unknownFields(call.resource.type, patched);
  if (unknown.length === 0) return;
  if (mode === 'Warn') {
    call.warnings.push(...unknown.map((path) => `unknown field "${path}"`));
    return;
  }
  throw invalidError({ kind: '', group: '' }, '', [
    {
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${JSON.stringify(JSON.stringify(patched))}: ${FIELD_VALIDATION.strictPrefix}${describe(unknown)}`,
      field: 'patch',
    },
  ]);
}
