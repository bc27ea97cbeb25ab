import { describe, expect, it } from 'vitest';
import {
  ApiError,
  formatLogTimestamp,
  matchesLabelRequirements,
  matchesLabelSelectorObject,
  ObjectStore,
  parseLabelSelector,
  type StoreEvent,
} from './store.ts';
import type { KubeObject } from './types.ts';

function configMap(
  name: string,
  data: Record<string, string> = {},
  namespace = 'default',
): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data };
}

function fakeClock(start = 1_800_000_000_000): {
  now: () => number;
  advance: (ms: number) => void;
} {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

describe('label selectors', () => {
  const labels = { app: 'curl', tier: 'client', 'sidecar.istio.io/inject': 'true' };

  it.each([
    ['app=curl', true],
    ['app==curl', true],
    ['app!=curl', false],
    ['app!=web', true],
    ['app in (web, curl)', true],
    ['app notin (web,curl)', false],
    ['tier', true],
    ['!tier', false],
    ['!missing', true],
    ['app=curl,tier in (client),sidecar.istio.io/inject=true', true],
    ['app=curl,missing', false],
    ['', true],
  ])('%s → %s', (selector, expected) => {
    expect(matchesLabelRequirements(parseLabelSelector(selector), labels)).toBe(expected);
  });

  it('rejects a malformed selector with a 400', () => {
    expect(() => parseLabelSelector('app in web')).toThrow(ApiError);
  });

  it('matches LabelSelector objects as NetworkPolicy uses them', () => {
    expect(matchesLabelSelectorObject({}, labels)).toBe(true);
    expect(matchesLabelSelectorObject({ matchLabels: { app: 'curl' } }, labels)).toBe(true);
    expect(
      matchesLabelSelectorObject(
        { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['client'] }] },
        labels,
      ),
    ).toBe(false);
    expect(
      matchesLabelSelectorObject(
        { matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] },
        labels,
      ),
    ).toBe(true);
  });
});

describe('ObjectStore', () => {
  it('fills metadata, bumps resourceVersion on every write and generation on spec changes', () => {
    const store = new ObjectStore();
    const created = store.create({
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 'gw', namespace: 'default' },
      spec: { selector: { istio: 'egressgateway' } },
    });
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.generation).toBe(1);
    expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const labelled = store.update({
      ...created,
      metadata: { ...created.metadata, labels: { a: 'b' } },
    });
    expect(labelled.metadata.generation).toBe(1);
    expect(Number(labelled.metadata.resourceVersion)).toBeGreaterThan(
      Number(created.metadata.resourceVersion),
    );

    const changed = store.update({ ...labelled, spec: { selector: { istio: 'other' } } });
    expect(changed.metadata.generation).toBe(2);
    expect(changed.metadata.uid).toBe(created.metadata.uid);

    expect(() =>
      store.update({ ...changed, metadata: { ...changed.metadata, resourceVersion: '1' } }),
    ).toThrow(/the object has been modified/);
    expect(() => store.create(configMap('cm'))).not.toThrow();
    expect(() => store.create(configMap('cm'))).toThrow('configmaps "cm" already exists');
    expect(Object.isFrozen(store.get('ConfigMap', 'default', 'cm')?.metadata)).toBe(true);
  });

  it('lists by namespace, label and field selectors, sorted by namespace and name', () => {
    const store = new ObjectStore();
    store.create({
      ...configMap('b', {}, 'two'),
      metadata: { name: 'b', namespace: 'two', labels: { app: 'x' } },
    });
    store.create({
      ...configMap('a', {}, 'two'),
      metadata: { name: 'a', namespace: 'two', labels: { app: 'y' } },
    });
    store.create({
      ...configMap('c', {}, 'one'),
      metadata: { name: 'c', namespace: 'one', labels: { app: 'x' } },
    });
    const names = (objects: KubeObject[]): string[] =>
      objects.map((object) => `${object.metadata.namespace}/${object.metadata.name}`);
    expect(names(store.list('ConfigMap'))).toEqual(['one/c', 'two/a', 'two/b']);
    expect(names(store.list('ConfigMap', { namespace: 'two' }))).toEqual(['two/a', 'two/b']);
    expect(names(store.list('ConfigMap', { labelSelector: 'app=x' }))).toEqual(['one/c', 'two/b']);
    expect(names(store.list('ConfigMap', { fieldSelector: 'metadata.name=a' }))).toEqual(['two/a']);
    expect(names(store.list('ConfigMap', { fieldSelector: 'metadata.namespace!=two' }))).toEqual([
      'one/c',
    ]);
  });

  it('notifies watchers asynchronously, in write order', async () => {
    const store = new ObjectStore();
    const seen: string[] = [];
    store.watch((event: StoreEvent) => seen.push(`${event.type} ${event.object.metadata.name}`));
    store.create(configMap('one'));
    store.delete('ConfigMap', 'default', 'one');
    expect(seen).toEqual([]);
    await store.idle();
    expect(seen).toEqual(['ADDED one', 'DELETED one']);
  });

  it('marks objects with finalizers instead of deleting them, and removes them when the finalizers go', () => {
    const store = new ObjectStore();
    store.create({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'ns' },
      spec: { finalizers: ['kubernetes'] },
    });
    const marked = store.delete('Namespace', undefined, 'ns');
    expect(marked.removed).toBe(false);
    expect(marked.object.status?.phase).toBe('Terminating');
    expect(marked.object.metadata.deletionTimestamp).toBeDefined();
    store.modify('Namespace', undefined, 'ns', (draft) => {
      draft.spec = { finalizers: [] };
    });
    expect(store.get('Namespace', undefined, 'ns')).toBeUndefined();
  });

  it('shows config kinds to the data plane after the propagation delay, live kinds at once', () => {
    const clock = fakeClock();
    const store = new ObjectStore({
      propagationMs: 1000,
      propagationJitterMs: 200,
      now: clock.now,
      random: () => 0.5,
    });
    store.create(configMap('mesh', { v: '1' }));
    store.create({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'default' },
      spec: {},
    });
    const effective = store.effectiveAt('ConfigMap', 'default', 'mesh') ?? 0;
    expect(effective).toBe(clock.now() + 1100);

    expect(store.view().get('ConfigMap', 'default', 'mesh')).toBeUndefined();
    expect(store.view().get('Pod', 'default', 'p')).toBeDefined();

    clock.advance(500);
    const current = store.get('ConfigMap', 'default', 'mesh');
    if (current === undefined) throw new Error('missing');
    store.update({ ...current, data: { v: '2' } });
    // The first version lands, then the second: never the second before the first.
    expect(store.viewAt(effective).get('ConfigMap', 'default', 'mesh')?.data).toEqual({ v: '1' });
    expect(store.viewAt(clock.now() + 1100).get('ConfigMap', 'default', 'mesh')?.data).toEqual({
      v: '2',
    });

    clock.advance(5000);
    store.delete('ConfigMap', 'default', 'mesh');
    expect(store.view().list('ConfigMap')).toHaveLength(1);
    expect(store.viewAt(clock.now() + 1100).list('ConfigMap')).toHaveLength(0);
  });

  it('keeps logs per container in time order and forgets them with the pod', () => {
    const clock = fakeClock();
    const store = new ObjectStore({ now: clock.now });
    store.logs.append('ns', 'pod', 'istio-proxy', 'second');
    store.logs.append('ns', 'pod', 'istio-proxy', 'third');
    store.logs.append('ns', 'pod', 'istio-proxy', 'first', new Date(clock.now() - 1000));
    expect(store.logs.read('ns', 'pod', 'istio-proxy').map((entry) => entry.text)).toEqual([
      'first',
      'second',
      'third',
    ]);
    expect(
      formatLogTimestamp({ time: Date.UTC(2026, 0, 2, 3, 4, 5, 120), nanos: 0, text: '' }),
    ).toBe('2026-01-02T03:04:05.12Z');
    expect(formatLogTimestamp({ time: Date.UTC(2026, 0, 2, 3, 4, 5, 0), nanos: 7, text: '' })).toBe(
      '2026-01-02T03:04:05.000000007Z',
    );
    store.logs.removePod('ns', 'pod');
    expect(store.logs.read('ns', 'pod', 'istio-proxy')).toEqual([]);
  });
});
