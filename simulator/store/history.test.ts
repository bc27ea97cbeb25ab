// The store as etcd and the watch cache behave: a write that changes nothing is not written,
// and a watch can resume from a resourceVersion (harness/facts/kube-api.ts).
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../types.ts';
import { ObjectStore } from './object-store.ts';

const configMap = (data: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'c', namespace: 'default' },
  data,
});

describe('store writes and history', () => {
  it('keeps the resourceVersion and sends no event for an update that changes nothing', async () => {
    const store = new ObjectStore();
    const created = store.create(configMap({ a: '1' }));
    await store.idle();
    const events: string[] = [];
    store.watch((event) => events.push(event.type));
    const same = store.update({ ...configMap({ a: '1' }), metadata: { ...created.metadata } });
    expect(same.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    const changed = store.update({ ...configMap({ a: '2' }), metadata: { ...created.metadata } });
    expect(Number(changed.metadata.resourceVersion)).toBeGreaterThan(
      Number(created.metadata.resourceVersion),
    );
    await store.idle();
    expect(events).toEqual(['MODIFIED']);
  });

  it('replays the events after a resourceVersion, oldest first', () => {
    const store = new ObjectStore();
    const created = store.create(configMap({ a: '1' }));
    const since = Number(created.metadata.resourceVersion);
    store.update({ ...configMap({ a: '2' }), metadata: { ...created.metadata } });
    store.delete('ConfigMap', 'default', 'c');
    const replay = store.eventsSince(since);
    expect('events' in replay && replay.events.map((event) => event.type)).toEqual([
      'MODIFIED',
      'DELETED',
    ]);
    expect('events' in replay && store.eventsSince(since - 1)).toMatchObject({
      events: [{ type: 'ADDED' }, { type: 'MODIFIED' }, { type: 'DELETED' }],
    });
  });
});
