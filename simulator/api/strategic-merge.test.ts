// Strategic merge patch as the API server applies it. The ordering cases are upstream's
// (kubernetes/apimachinery pkg/util/strategicpatch/patch_test.go, "set elements order in a
// list with server-only items" 1–3: Current + ThreeWay = Result), moved from the test
// struct's `mergingList` to a Pod's `spec.containers`, which merges by name too.
import { describe, expect, it } from 'vitest';
import type { Json } from '../json.ts';
import { applyStrategicMergePatch } from './strategic-merge.ts';

const c = (name: number, extra: Json = {}): Json => ({ name: String(name), ...extra });
const containers = (list: Json[]): Json => ({ spec: { containers: list } });
const order = (names: number[]): Json => ({
  spec: { '$setElementOrder/containers': names.map((name) => ({ name: String(name) })) },
});

describe('strategic merge patch', () => {
  it.each([
    {
      current: [
        c(1, { other: 'a' }),
        c(3, { value: 3 }),
        c(4, { value: 4 }),
        c(2, { value: 2 }),
        c(9),
      ],
      order: [4, 2, 3, 1],
      result: [
        c(4, { value: 4 }),
        c(2, { value: 2 }),
        c(3, { value: 3 }),
        c(1, { other: 'a' }),
        c(9),
      ],
    },
    {
      current: [
        c(1, { other: 'a' }),
        c(2, { value: 2 }),
        c(9),
        c(3, { value: 3 }),
        c(4, { value: 4 }),
      ],
      order: [2, 1, 4, 3],
      result: [
        c(2, { value: 2 }),
        c(1, { other: 'a' }),
        c(9),
        c(4, { value: 4 }),
        c(3, { value: 3 }),
      ],
    },
    {
      current: [
        c(1, { other: 'a' }),
        c(2, { value: 2 }),
        c(7),
        c(9),
        c(8),
        c(3, { value: 3 }),
        c(4, { value: 4 }),
      ],
      order: [2, 1, 4, 3],
      result: [
        c(2, { value: 2 }),
        c(1, { other: 'a' }),
        c(7),
        c(9),
        c(8),
        c(4, { value: 4 }),
        c(3, { value: 3 }),
      ],
    },
  ])('orders by $setElementOrder and keeps server-only items in place (%#)', (test) => {
    expect(applyStrategicMergePatch(containers(test.current), order(test.order))).toEqual(
      containers(test.result),
    );
  });

  it('merges containers by name, deletes with $patch, and replaces lists without a strategy', () => {
    const original = containers([
      c(1, { image: 'a', args: ['x', 'y'], env: [{ name: 'A', value: '1' }] }),
      c(2, { image: 'b' }),
    ]);
    const patch = {
      spec: {
        containers: [
          { name: '1', image: 'a2', args: ['z'], env: [{ name: 'B', value: '2' }] },
          { name: '2', $patch: 'delete' },
        ],
      },
    };
    expect(applyStrategicMergePatch(original, patch)).toEqual(
      containers([
        c(1, {
          image: 'a2',
          args: ['z'],
          env: [
            { name: 'B', value: '2' },
            { name: 'A', value: '1' },
          ],
        }),
      ]),
    );
  });

  it('honours $patch: replace, $retainKeys, $deleteFromPrimitiveList and null', () => {
    const original = {
      metadata: { finalizers: ['a', 'b'], labels: { x: '1', y: '2' } },
      spec: {
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } },
        template: { spec: { containers: [c(1), c(2)] } },
      },
    };
    const patch = {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['a'], labels: { y: null } },
      spec: {
        strategy: { $retainKeys: ['type'], type: 'Recreate' },
        template: { spec: { containers: [{ $patch: 'replace' }, c(3)] } },
      },
    };
    expect(applyStrategicMergePatch(original, patch)).toEqual({
      metadata: { finalizers: ['b'], labels: { x: '1' } },
      spec: { strategy: { type: 'Recreate' }, template: { spec: { containers: [c(3)] } } },
    });
  });
});
