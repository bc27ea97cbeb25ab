/** Request bodies decoded and checked the way the API server's decoder rejects them. */
import type { IncomingMessage } from 'node:http';
import YAML from 'yaml';
import { isRecord, type Json } from '../json.ts';
import { ApiError, badRequestError } from '../store/errors.ts';
import type { ResourceType } from '../store/resource-types.ts';

const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** The request body, refused beyond the size limit. */
export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > MAX_BODY_BYTES)
      throw new ApiError(
        413,
        'RequestEntityTooLarge',
        'Request entity too large: limit is 3145728',
      );
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** JSON or YAML by content type; a parse failure is a 400. */
export function parseBody(body: string, contentType: string | undefined): unknown {
  const type = (contentType ?? 'application/json').split(';')[0]?.trim() ?? '';
  try {
    if (type.includes('yaml')) return YAML.parse(body) as unknown;
    return JSON.parse(body) as unknown;
  } catch (error) {
    throw badRequestError(
      `couldn't get version/kind; json parse error: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

/** A body as quoted in error messages. */
export function truncate(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

/** Rejects labels, annotations or ConfigMap data that are not string maps, as Go's decoder does. */
export function checkStringMaps(type: ResourceType, metadata: Json, object: Json): void {
  const check = (value: unknown, field: string, goType: string): void => {
    if (value === undefined || value === null) return;
    if (!isRecord(value))
      throw badRequestError(
        `json: cannot unmarshal ${describeJson(value)} into Go struct field ${goType} of type map[string]string`,
      );
    for (const [key, entry] of Object.entries(value)) {
      if (typeof entry !== 'string') {
        throw badRequestError(
          `json: cannot unmarshal ${describeJson(entry)} into Go struct field ${goType}.${field}.${key} of type string`,
        );
      }
    }
  };
  check(metadata.labels, 'metadata.labels', 'ObjectMeta');
  check(metadata.annotations, 'metadata.annotations', 'ObjectMeta');
  if (type.kind === 'ConfigMap') check(object.data, 'data', 'ConfigMap');
}

function describeJson(value: unknown): string {
  if (typeof value === 'number') return 'number';
  if (typeof value === 'boolean') return 'bool';
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'object' : 'string';
}
