/**
 * `/openapi/v2` and `/openapi/v3`: enough for kubectl to validate and patch as against a
 * real server. Each served kind's PATCH operation is published with its
 * `x-kubernetes-group-version-kind`, the patch media types it accepts and the
 * `fieldValidation` query parameter, so kubectl 1.27+ leaves schema validation to the
 * server (FIELD_VALIDATION in harness/facts/kube-api.ts) and computes strategic merge
 * patches for built-in kinds from its compiled-in types (kubernetes/kubectl
 * `pkg/cmd/apply/patcher.go`: no schema component for the kind means no OpenAPI-based
 * patch). Schemas are minimal: custom resources get an object schema that keeps unknown
 * fields; built-in kinds get none.
 */
import { createHash } from 'node:crypto';
import { FIELD_VALIDATION } from '../../harness/facts/kube-api.ts';
import type { Json } from '../json.ts';
import { RESOURCE_TYPES, type ResourceType } from '../store/resource-types.ts';

const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
];

/** `/openapi/v2` in protobuf: the gnostic `openapi_v2.Document` kubectl decodes. */
const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

function servedGroupVersions(): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const type of RESOURCE_TYPES)
    for (const version of type.versions)
      seen.set(gvPath(type.group, version), { group: type.group, version });
  return [...seen.values()];
}

function parameter(name: string): Json {
  return { name, in: 'query', schema: { type: 'string', uniqueItems: true } };
}

function operations(type: ResourceType, version: string): Json {
  const gvk = { group: type.group, version, kind: type.kind };
  const accepted = type.custom ? PATCH_TYPES.filter((t) => !t.includes('strategic')) : PATCH_TYPES;
  const response = { '200': { description: 'OK' } };
  return {
    get: {
      'x-kubernetes-action': 'get',
      'x-kubernetes-group-version-kind': gvk,
      responses: response,
    },
    put: {
      'x-kubernetes-action': 'put',
      'x-kubernetes-group-version-kind': gvk,
      parameters: ['dryRun', 'fieldManager', FIELD_VALIDATION.queryParameter].map(parameter),
      requestBody: {
        content: { 'application/json': { schema: { type: 'object' } } },
        required: true,
      },
      responses: response,
    },
    patch: {
      'x-kubernetes-action': 'patch',
      'x-kubernetes-group-version-kind': gvk,
      parameters: ['dryRun', 'fieldManager', FIELD_VALIDATION.queryParameter, 'force'].map(
        parameter,
      ),
      requestBody: {
        content: Object.fromEntries(accepted.map((t) => [t, { schema: { type: 'object' } }])),
        required: true,
      },
      responses: response,
    },
    delete: {
      'x-kubernetes-action': 'delete',
      'x-kubernetes-group-version-kind': gvk,
      responses: response,
    },
  };
}

function schemaName(type: ResourceType, version: string): string {
  const group = type.group.split('.').reverse().join('.');
  return `${group}.${version}.${type.kind}`;
}

/** The OpenAPI v3 document of one group version. */
function groupVersionDocument(group: string, version: string, kubernetesVersion: string): Json {
  const paths: Json = {};
  const schemas: Json = {};
  for (const type of RESOURCE_TYPES) {
    if (type.group !== group || !type.versions.includes(version) || !type.stored) continue;
    const base = `/${gvPath(group, version)}`;
    const item = type.namespaced
      ? `${base}/namespaces/{namespace}/${type.plural}/{name}`
      : `${base}/${type.plural}/{name}`;
    paths[item] = operations(type, version);
    if (type.custom) {
      schemas[schemaName(type, version)] = {
        type: 'object',
        properties: {
          apiVersion: { type: 'string' },
          kind: { type: 'string' },
          metadata: { type: 'object' },
          spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
        'x-kubernetes-group-version-kind': [{ group, version, kind: type.kind }],
      };
    }
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: kubernetesVersion },
    paths,
    components: { schemas },
  };
}

function hashOf(document: Json): string {
  return createHash('sha512')
    .update(JSON.stringify(document))
    .digest('hex')
    .slice(0, 128)
    .toUpperCase();
}

/** What an `/openapi/...` path answers: a body and its content type, or undefined (404). */
export function openApiDocument(
  pathname: string,
  accept: string,
  kubernetesVersion: string,
): { contentType: string; body: Buffer } | undefined {
  const json = (document: Json): { contentType: string; body: Buffer } => ({
    contentType: 'application/json',
    body: Buffer.from(JSON.stringify(document)),
  });
  if (pathname === '/openapi/v2') {
    if (accept.includes(OPENAPI_V2_PROTOBUF))
      return { contentType: OPENAPI_V2_PROTOBUF, body: openApiV2Protobuf(kubernetesVersion) };
    return json({
      swagger: '2.0',
      info: { title: 'Kubernetes', version: kubernetesVersion },
      paths: {},
      definitions: {},
    });
  }
  if (pathname === '/openapi/v3') {
    const paths: Json = {};
    for (const { group, version } of servedGroupVersions()) {
      const document = groupVersionDocument(group, version, kubernetesVersion);
      paths[gvPath(group, version)] = {
        serverRelativeURL: `/openapi/v3/${gvPath(group, version)}?hash=${hashOf(document)}`,
      };
    }
    return json({ paths });
  }
  if (pathname.startsWith('/openapi/v3/')) {
    const path = pathname.slice('/openapi/v3/'.length);
    const served = servedGroupVersions().find((gv) => gvPath(gv.group, gv.version) === path);
    if (served === undefined) return undefined;
    return json(groupVersionDocument(served.group, served.version, kubernetesVersion));
  }
  return undefined;
}

/** A length-delimited protobuf field. */
function field(number: number, payload: Buffer): Buffer {
  const header: number[] = [(number << 3) | 2];
  let length = payload.length;
  do {
    let byte = length & 0x7f;
    length >>>= 7;
    if (length > 0) byte |= 0x80;
    header.push(byte);
  } while (length > 0);
  return Buffer.concat([Buffer.from(header), payload]);
}

/**
 * gnostic `openapi_v2.Document` (google/gnostic-models `openapiv2/OpenAPIv2.proto`):
 * swagger = 1, info = 2 {title = 1, version = 2}, paths = 8, definitions = 9; no paths and
 * no definitions.
 */
function openApiV2Protobuf(kubernetesVersion: string): Buffer {
  const info = Buffer.concat([
    field(1, Buffer.from('Kubernetes')),
    field(2, Buffer.from(kubernetesVersion)),
  ]);
  return Buffer.concat([
    field(1, Buffer.from('2.0')),
    field(2, info),
    field(8, Buffer.alloc(0)),
    field(9, Buffer.alloc(0)),
  ]);
}
