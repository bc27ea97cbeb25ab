// Server-side tables. Durations are upstream's cases (kubernetes/apimachinery
// pkg/util/duration/duration_test.go); pod cells follow printPod (kubernetes/kubernetes
// pkg/printers/internalversion/printers.go).
import { describe, expect, it } from 'vitest';
import { resourceTypeForKind } from '../store/resource-types.ts';
import type { KubeObject } from '../types.ts';
import { humanDuration, tableRequested, toTable } from './tables.ts';

const S = 1000;
const H = 3600 * S;

describe('HumanDuration', () => {
  it.each([
    [S, '1s'],
    [70 * S, '70s'],
    [190 * S, '3m10s'],
    [70 * 60 * S, '70m'],
    [47 * H, '47h'],
    [49 * H, '2d1h'],
    [(8 * 24 + 2) * H, '8d'],
    [367 * 24 * H, '367d'],
    [(365 * 2 * 24 + 25) * H, '2y1d'],
    [(365 * 8 * 24 + 2) * H, '8y'],
    [-2 * S, '<invalid>'],
    [2 * 60 * S - 1, '119s'],
    [3 * H - 1, '179m'],
    [8 * H - 1, '7h59m'],
  ])('%d ms is %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe('tables', () => {
  const now = Date.parse('2026-01-01T00:10:00Z');
  const options = {
    includeObject: 'Metadata',
    noHeaders: false,
    tableVersion: 'v1' as const,
    now,
    resourceVersion: '7',
  };
  const pod = (
    status: Record<string, unknown>,
    spec: Record<string, unknown> = {},
    deleting = false,
  ): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'p',
      namespace: 'ns',
      creationTimestamp: '2026-01-01T00:00:00Z',
      ...(deleting ? { deletionTimestamp: '2026-01-01T00:09:00Z' } : {}),
    },
    spec: { containers: [{ name: 'app' }], ...spec },
    status,
  });
  const cells = (object: KubeObject): unknown[] => {
    const table = toTable(resourceTypeForKind(object.kind)!, [object], options) as {
      rows: { cells: unknown[] }[];
    };
    return table.rows[0]?.cells ?? [];
  };

  it('asks for a Table only when the first acceptable type is one', () => {
    expect(
      tableRequested(
        'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
      ),
    ).toBe('v1');
    expect(tableRequested('application/json')).toBeUndefined();
    expect(tableRequested(undefined)).toBeUndefined();
  });

  it('prints pods as kubectl get pods shows them, wide columns included', () => {
    const running = {
      phase: 'Running',
      podIPs: [{ ip: '10.244.0.9' }],
      containerStatuses: [{ name: 'app', ready: true, restartCount: 0, state: { running: {} } }],
    };
    expect(cells(pod(running, { nodeName: 'node-1' }))).toEqual([
      'p',
      '1/1',
      'Running',
      '0',
      '10m',
      '10.244.0.9',
      'node-1',
      '<none>',
      '<none>',
    ]);
    const waiting = {
      phase: 'Pending',
      containerStatuses: [
        {
          name: 'app',
          ready: false,
          restartCount: 0,
          state: { waiting: { reason: 'ContainerCreating' } },
        },
      ],
    };
    expect(cells(pod(waiting)).slice(1, 3)).toEqual(['0/1', 'ContainerCreating']);
    expect(cells(pod(running, {}, true)).slice(1, 3)).toEqual(['1/1', 'Terminating']);
    // A native sidecar (restartable init container) counts among the containers.
    const sidecar = {
      phase: 'Running',
      conditions: [{ type: 'Initialized', status: 'True' }],
      initContainerStatuses: [
        {
          name: 'istio-proxy',
          ready: true,
          started: true,
          restartCount: 1,
          state: { running: {} },
        },
      ],
      containerStatuses: [{ name: 'app', ready: true, restartCount: 0, state: { running: {} } }],
    };
    expect(
      cells(
        pod(sidecar, { initContainers: [{ name: 'istio-proxy', restartPolicy: 'Always' }] }),
      ).slice(1, 4),
    ).toEqual(['2/2', 'Running', '1']);
  });

  it("prints custom resources with their CRD's columns and a PartialObjectMetadata per row", () => {
    const se = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'ServiceEntry',
      metadata: { name: 'cnn', namespace: 'ns', creationTimestamp: '2026-01-01T00:09:30Z' },
      spec: { hosts: ['edition.cnn.com'], resolution: 'DNS' },
    } as KubeObject;
    const table = toTable(resourceTypeForKind('ServiceEntry')!, [se], options) as {
      columnDefinitions: { name: string }[];
      rows: { cells: unknown[]; object: { kind: string } }[];
    };
    expect(table.columnDefinitions.map((c) => c.name)).toEqual([
      'Name',
      'Hosts',
      'Location',
      'Resolution',
      'Age',
    ]);
    expect(table.rows[0]?.cells).toEqual(['cnn', '["edition.cnn.com"]', null, 'DNS', '30s']);
    expect(table.rows[0]?.object.kind).toBe('PartialObjectMetadata');
    const gateway = toTable(resourceTypeForKind('Gateway')!, [], options) as {
      columnDefinitions: { name: string }[];
    };
    expect(gateway.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Age']);
  });
});
