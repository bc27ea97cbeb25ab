// Protobuf request bodies as kubectl's typed clients encode them: `k8s\0` + runtime.Unknown.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../store/errors.ts';
import { decodeProtobufObject, isProtobuf } from './protobuf.ts';

function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  do {
    let byte = rest & 0x7f;
    rest >>>= 7;
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return bytes;
}

/** A length-delimited field. */
function bytesField(number: number, payload: Buffer | string): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat([Buffer.from([(number << 3) | 2, ...varint(data.length)]), data]);
}

function intField(number: number, value: number): Buffer {
  return Buffer.from([number << 3, ...varint(value)]);
}

function unknown(apiVersion: string, kind: string, raw: Buffer): Buffer {
  const typeMeta = Buffer.concat([bytesField(1, apiVersion), bytesField(2, kind)]);
  return Buffer.concat([
    Buffer.from([0x6b, 0x38, 0x73, 0x00]),
    bytesField(1, typeMeta),
    bytesField(2, raw),
    bytesField(3, ''),
    bytesField(4, ''),
  ]);
}

describe('protobuf bodies', () => {
  it('recognises the media type', () => {
    expect(isProtobuf('application/vnd.kubernetes.protobuf')).toBe(true);
    expect(isProtobuf('application/json')).toBe(false);
  });

  it('decodes a Namespace as `kubectl create namespace` sends it, empty fields left out', () => {
    // ObjectMeta: name, empty generateName, a label, a zero creationTimestamp (non-pointer Time).
    const label = Buffer.concat([bytesField(1, 'team'), bytesField(2, 'egress')]);
    const metadata = Buffer.concat([
      bytesField(1, 'demo'),
      bytesField(2, ''),
      intField(7, 0),
      bytesField(8, Buffer.alloc(0)),
      bytesField(11, label),
    ]);
    const namespace = Buffer.concat([
      bytesField(1, metadata),
      bytesField(2, Buffer.alloc(0)),
      bytesField(3, Buffer.alloc(0)),
    ]);
    expect(decodeProtobufObject(unknown('v1', 'Namespace', namespace))).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'demo', labels: { team: 'egress' } },
      spec: {},
    });
  });

  it('decodes Secret data as base64, and refuses kinds it has no message for with 415', () => {
    const data = Buffer.concat([bytesField(1, 'k'), bytesField(2, 'v')]);
    const secret = Buffer.concat([bytesField(1, bytesField(1, 's1')), bytesField(2, data)]);
    expect(decodeProtobufObject(unknown('v1', 'Secret', secret))).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's1' },
      data: { k: 'dg==' },
    });
    try {
      decodeProtobufObject(unknown('v1', 'Service', Buffer.alloc(0)));
      expect.unreachable();
    } catch (error) {
      expect((error as ApiError).code).toBe(415);
    }
  });
});
