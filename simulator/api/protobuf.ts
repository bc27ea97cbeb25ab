/**
 * Request bodies in the Kubernetes protobuf encoding, which kubectl's typed clients send
 * (`kubectl create namespace|configmap|secret|serviceaccount`): the magic `k8s\0`, then a
 * `runtime.Unknown` whose `raw` is the object. Decoded to the JSON the object would have
 * been, for the kinds whose messages are described below (field numbers from
 * kubernetes/api `core/v1/generated.proto` and kubernetes/apimachinery
 * `pkg/apis/meta/v1/generated.proto`, 1.32–1.36; see PROTOBUF in harness/facts/kube-api.ts).
 */
import { PROTOBUF } from '../../harness/facts/kube-api.ts';
import { rfc3339, type Json } from '../json.ts';
import { ApiError, badRequestError } from '../store/errors.ts';

/**
 * `int0`, `bool0`: a non-pointer `omitempty` field, which the JSON encoding leaves out when
 * zero (protobuf carries it anyway); `int` and `bool` are pointers, kept even when zero.
 */
type FieldKind =
  | 'string'
  | 'bytes'
  | 'int'
  | 'int0'
  | 'bool'
  | 'bool0'
  | 'time'
  | 'map'
  | 'map-bytes'
  | 'int-or-string'
  | Message;
interface Field {
  name: string;
  kind: FieldKind;
  repeated?: boolean;
}
type Message = Record<number, Field>;

const OWNER_REFERENCE: Message = {
  1: { name: 'kind', kind: 'string' },
  3: { name: 'name', kind: 'string' },
  4: { name: 'uid', kind: 'string' },
  5: { name: 'apiVersion', kind: 'string' },
  6: { name: 'controller', kind: 'bool' },
  7: { name: 'blockOwnerDeletion', kind: 'bool' },
};

const OBJECT_META: Message = {
  1: { name: 'name', kind: 'string' },
  2: { name: 'generateName', kind: 'string' },
  3: { name: 'namespace', kind: 'string' },
  5: { name: 'uid', kind: 'string' },
  6: { name: 'resourceVersion', kind: 'string' },
  7: { name: 'generation', kind: 'int0' },
  8: { name: 'creationTimestamp', kind: 'time' },
  9: { name: 'deletionTimestamp', kind: 'time' },
  10: { name: 'deletionGracePeriodSeconds', kind: 'int' },
  11: { name: 'labels', kind: 'map' },
  12: { name: 'annotations', kind: 'map' },
  13: { name: 'ownerReferences', kind: OWNER_REFERENCE, repeated: true },
  14: { name: 'finalizers', kind: 'string', repeated: true },
};

const OBJECT_REFERENCE: Message = {
  1: { name: 'kind', kind: 'string' },
  2: { name: 'namespace', kind: 'string' },
  3: { name: 'name', kind: 'string' },
  4: { name: 'uid', kind: 'string' },
  5: { name: 'apiVersion', kind: 'string' },
  6: { name: 'resourceVersion', kind: 'string' },
  7: { name: 'fieldPath', kind: 'string' },
};

const LABEL_SELECTOR: Message = {
  1: { name: 'matchLabels', kind: 'map' },
  2: {
    name: 'matchExpressions',
    kind: {
      1: { name: 'key', kind: 'string' },
      2: { name: 'operator', kind: 'string' },
      3: { name: 'values', kind: 'string', repeated: true },
    },
    repeated: true,
  },
};

/** The Container fields `kubectl create deployment|job` set (core/v1 Container). */
const CONTAINER: Message = {
  1: { name: 'name', kind: 'string' },
  2: { name: 'image', kind: 'string' },
  3: { name: 'command', kind: 'string', repeated: true },
  4: { name: 'args', kind: 'string', repeated: true },
  5: { name: 'workingDir', kind: 'string' },
  6: {
    name: 'ports',
    kind: {
      1: { name: 'name', kind: 'string' },
      2: { name: 'hostPort', kind: 'int0' },
      3: { name: 'containerPort', kind: 'int' },
      4: { name: 'protocol', kind: 'string' },
      5: { name: 'hostIP', kind: 'string' },
    },
    repeated: true,
  },
  7: {
    name: 'env',
    kind: { 1: { name: 'name', kind: 'string' }, 2: { name: 'value', kind: 'string' } },
    repeated: true,
  },
  13: { name: 'terminationMessagePath', kind: 'string' },
  14: { name: 'imagePullPolicy', kind: 'string' },
  20: { name: 'terminationMessagePolicy', kind: 'string' },
};

/** The PodSpec fields `kubectl create deployment` sets, and a few common scalars. */
const POD_SPEC: Message = {
  2: { name: 'containers', kind: CONTAINER, repeated: true },
  3: { name: 'restartPolicy', kind: 'string' },
  4: { name: 'terminationGracePeriodSeconds', kind: 'int' },
  6: { name: 'dnsPolicy', kind: 'string' },
  7: { name: 'nodeSelector', kind: 'map' },
  8: { name: 'serviceAccountName', kind: 'string' },
  20: { name: 'initContainers', kind: CONTAINER, repeated: true },
};

/** The kinds a protobuf body is understood for. */
const MESSAGES: Record<string, Message> = {
  Namespace: {
    1: { name: 'metadata', kind: OBJECT_META },
    2: { name: 'spec', kind: { 1: { name: 'finalizers', kind: 'string', repeated: true } } },
    3: { name: 'status', kind: { 1: { name: 'phase', kind: 'string' } } },
  },
  ConfigMap: {
    1: { name: 'metadata', kind: OBJECT_META },
    2: { name: 'data', kind: 'map' },
    3: { name: 'binaryData', kind: 'map-bytes' },
    4: { name: 'immutable', kind: 'bool' },
  },
  Secret: {
    1: { name: 'metadata', kind: OBJECT_META },
    2: { name: 'data', kind: 'map-bytes' },
    3: { name: 'type', kind: 'string' },
    4: { name: 'stringData', kind: 'map' },
    5: { name: 'immutable', kind: 'bool' },
  },
  Deployment: {
    1: { name: 'metadata', kind: OBJECT_META },
    2: {
      name: 'spec',
      kind: {
        1: { name: 'replicas', kind: 'int' },
        2: { name: 'selector', kind: LABEL_SELECTOR },
        3: {
          name: 'template',
          kind: { 1: { name: 'metadata', kind: OBJECT_META }, 2: { name: 'spec', kind: POD_SPEC } },
        },
        4: {
          name: 'strategy',
          kind: {
            1: { name: 'type', kind: 'string' },
            2: {
              name: 'rollingUpdate',
              kind: {
                1: { name: 'maxUnavailable', kind: 'int-or-string' },
                2: { name: 'maxSurge', kind: 'int-or-string' },
              },
            },
          },
        },
        5: { name: 'minReadySeconds', kind: 'int0' },
        6: { name: 'revisionHistoryLimit', kind: 'int' },
        7: { name: 'paused', kind: 'bool0' },
        9: { name: 'progressDeadlineSeconds', kind: 'int' },
      },
    },
  },
  ServiceAccount: {
    1: { name: 'metadata', kind: OBJECT_META },
    2: { name: 'secrets', kind: OBJECT_REFERENCE, repeated: true },
    3: { name: 'imagePullSecrets', kind: { 1: { name: 'name', kind: 'string' } }, repeated: true },
    4: { name: 'automountServiceAccountToken', kind: 'bool' },
  },
};

/** Whether `contentType` is the protobuf media type. */
export function isProtobuf(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]?.trim() === PROTOBUF.contentType;
}

/** One field of a protobuf message: its number and its varint or bytes value. */
interface WireField {
  number: number;
  varint?: bigint;
  bytes?: Buffer;
}

function readFields(buffer: Buffer): WireField[] {
  const fields: WireField[] = [];
  let offset = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (offset >= buffer.length) throw badRequestError('unexpected end of protobuf data');
      const byte = buffer[offset] ?? 0;
      offset += 1;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (offset < buffer.length) {
    const key = Number(varint());
    const number = key >>> 3;
    switch (key & 7) {
      case 0:
        fields.push({ number, varint: varint() });
        break;
      case 1:
        offset += 8;
        break;
      case 2: {
        const length = Number(varint());
        fields.push({ number, bytes: buffer.subarray(offset, offset + length) });
        offset += length;
        break;
      }
      case 5:
        offset += 4;
        break;
      default:
        throw badRequestError(`illegal protobuf wire type ${key & 7}`);
    }
  }
  return fields;
}

function decodeMessage(buffer: Buffer, message: Message): Json {
  const result: Json = {};
  for (const wire of readFields(buffer)) {
    const field = message[wire.number];
    if (field === undefined) continue;
    const value = decodeValue(wire, field.kind, result[field.name]);
    if (value === undefined) continue;
    if (field.repeated) result[field.name] = [...((result[field.name] as unknown[]) ?? []), value];
    else result[field.name] = value;
  }
  return result;
}

function decodeValue(wire: WireField, kind: FieldKind, previous: unknown): unknown {
  const bytes = wire.bytes ?? Buffer.alloc(0);
  switch (kind) {
    case 'string':
      return bytes.toString('utf8');
    case 'bytes':
      return bytes.toString('base64');
    case 'int':
      return Number(BigInt.asIntN(64, wire.varint ?? 0n));
    case 'int0': {
      const value = Number(BigInt.asIntN(64, wire.varint ?? 0n));
      return value === 0 ? undefined : value;
    }
    case 'int-or-string': {
      const fields = readFields(bytes);
      if (fields.find((f) => f.number === 1)?.varint === 1n)
        return fields.find((f) => f.number === 3)?.bytes?.toString('utf8') ?? '';
      return Number(BigInt.asIntN(32, fields.find((f) => f.number === 2)?.varint ?? 0n));
    }
    case 'bool':
      return (wire.varint ?? 0n) !== 0n;
    case 'bool0':
      return (wire.varint ?? 0n) !== 0n ? true : undefined;
    case 'time': {
      const time = readFields(bytes);
      const seconds = Number(time.find((f) => f.number === 1)?.varint ?? 0n);
      // The zero time (a non-pointer metav1.Time) is JSON null: left out.
      return seconds === 0 ? undefined : rfc3339(seconds * 1000);
    }
    case 'map':
    case 'map-bytes': {
      const entry = readFields(bytes);
      const key = entry.find((f) => f.number === 1)?.bytes?.toString('utf8') ?? '';
      const raw = entry.find((f) => f.number === 2)?.bytes ?? Buffer.alloc(0);
      const value = kind === 'map' ? raw.toString('utf8') : raw.toString('base64');
      return { ...(previous as Json | undefined), [key]: value };
    }
    default:
      return decodeMessage(bytes, kind);
  }
}

/** Drops what Go's JSON encoding leaves out (`omitempty`): empty strings, maps and lists. */
function omitEmpty(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(omitEmpty);
  if (value === null || typeof value !== 'object') return value;
  const result: Json = {};
  for (const [key, child] of Object.entries(value)) {
    const cleaned = omitEmpty(child);
    if (cleaned === '' || (Array.isArray(cleaned) && cleaned.length === 0)) continue;
    if (
      cleaned !== null &&
      typeof cleaned === 'object' &&
      Object.keys(cleaned).length === 0 &&
      key !== 'spec'
    )
      continue;
    result[key] = cleaned;
  }
  return result;
}

/** The JSON object a protobuf request body encodes; 415 for kinds not described here. */
export function decodeProtobufObject(body: Buffer): Json {
  const magic = Buffer.from(PROTOBUF.magic);
  if (body.length < 4 || !body.subarray(0, 4).equals(magic))
    throw badRequestError(
      'provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]',
    );
  const unknown = readFields(body.subarray(4));
  const typeMeta = readFields(unknown.find((f) => f.number === 1)?.bytes ?? Buffer.alloc(0));
  const apiVersion = typeMeta.find((f) => f.number === 1)?.bytes?.toString('utf8') ?? '';
  const kind = typeMeta.find((f) => f.number === 2)?.bytes?.toString('utf8') ?? '';
  const message = MESSAGES[kind];
  if (message === undefined) {
    throw new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`,
    );
  }
  const raw = unknown.find((f) => f.number === 2)?.bytes ?? Buffer.alloc(0);
  return { apiVersion, kind, ...(omitEmpty(decodeMessage(raw, message)) as Json) };
}
