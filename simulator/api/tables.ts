/**
 * `meta.k8s.io/v1` Tables: what `kubectl get` asks for (`Accept: application/json;as=Table;
 * v=v1;g=meta.k8s.io, …`) and prints. Built-in kinds get the server's printer columns and
 * cells (kubernetes/kubernetes `pkg/printers/internalversion/printers.go`), custom resources
 * their CRD's printer columns (kubernetes/apiextensions-apiserver `tableconvertor.go`);
 * the server fills every column, `-o wide` only shows the priority-1 ones.
 */
import {
  BUILTIN_PRINTER_COLUMNS,
  CRD_DEFAULT_COLUMNS,
  CRD_NAME_COLUMN,
  ISTIO_PRINTER_COLUMNS,
  TABLE_DEFAULT_INCLUDE_OBJECT,
  type PrinterColumn,
} from '../../harness/facts/kube-api.ts';
import { asArray, asRecord, isRecord, text, type Json } from '../json.ts';
import { badRequestError } from '../store/errors.ts';
import type { ResourceType } from '../store/resource-types.ts';
import type { KubeObject } from '../types.ts';

/** The Table version an `Accept` header asks for first, if it asks for one. */
export function tableRequested(accept: string | undefined): 'v1' | 'v1beta1' | undefined {
  for (const range of (accept ?? '').split(',')) {
    const [media = '', ...params] = range.split(';').map((part) => part.trim());
    const values = Object.fromEntries(params.map((param) => param.split('=') as [string, string]));
    if (
      values.as === 'Table' &&
      values.g === 'meta.k8s.io' &&
      (values.v === 'v1' || values.v === 'v1beta1')
    )
      return values.v;
    if (media === 'application/json' || media === '*/*' || media.startsWith('application/'))
      return undefined;
  }
  return undefined;
}

/** kubernetes/apimachinery `pkg/util/duration` `HumanDuration`. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${hours / 24}d` : `${Math.trunc(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 365 * 8)
    return days % 365 === 0 ? `${days / 365}y` : `${Math.trunc(days / 365)}y${days % 365}d`;
  return `${Math.trunc(days / 365)}y`;
}

function since(timestamp: unknown, now: number): string {
  if (typeof timestamp !== 'string' || timestamp === '') return '<unknown>';
  const time = Date.parse(timestamp);
  return Number.isNaN(time) ? '<unknown>' : humanDuration(now - time);
}

/** `labels.FormatLabels`: sorted k=v, `<none>` when empty. */
function formatLabels(labels: unknown): string {
  const pairs = Object.entries(asRecord(labels)).map(([key, value]) => `${key}=${String(value)}`);
  return pairs.length === 0 ? '<none>' : pairs.sort().join(',');
}

/** `LabelSelectorAsSelector(...).String()`: requirements sorted by key. */
function selectorString(selector: unknown): string {
  const record = asRecord(selector);
  const requirements: [string, string][] = Object.entries(asRecord(record.matchLabels)).map(
    ([key, value]) => [key, `${key}=${String(value)}`],
  );
  for (const expression of asArray(record.matchExpressions)) {
    const key = text(expression.key, '');
    const values = asArray(expression.values as unknown[])
      .map(String)
      .sort()
      .join(',');
    const rendered: Record<string, string> = {
      In: `${key} in (${values})`,
      NotIn: `${key} notin (${values})`,
      Exists: key,
      DoesNotExist: `!${key}`,
    };
    requirements.push([key, rendered[text(expression.operator, '')] ?? key]);
  }
  return requirements
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, value]) => value)
    .join(',');
}

function containerCells(spec: unknown): [string, string] {
  const containers = asArray(asRecord(spec).containers);
  return [
    containers.map((c) => text(c.name, '')).join(','),
    containers.map((c) => text(c.image, '')).join(','),
  ];
}

/** printPod, including restartable init containers (native sidecars). */
function podCells(pod: KubeObject, now: number): unknown[] {
  const spec = asRecord(pod.spec);
  const status = asRecord(pod.status);
  const initContainers = asArray(spec.initContainers);
  const restartable = (name: unknown): boolean =>
    initContainers.some((c) => c.name === name && c.restartPolicy === 'Always');
  let total =
    asArray(spec.containers).length +
    initContainers.filter((c) => c.restartPolicy === 'Always').length;
  let ready = 0;
  let restarts = 0;
  let reason = text(status.reason, '') || text(status.phase, '');
  let initializing = false;
  asArray(status.initContainerStatuses).forEach((container, index) => {
    if (initializing) return;
    const state = asRecord(container.state);
    const terminated = isRecord(state.terminated) ? state.terminated : undefined;
    const waiting = isRecord(state.waiting) ? state.waiting : undefined;
    if (terminated !== undefined && terminated.exitCode === 0) return;
    if (restartable(container.name) && container.started === true) {
      if (container.ready === true) ready += 1;
      return;
    }
    if (terminated !== undefined)
      reason = `Init:${text(terminated.reason, '') || `ExitCode:${String(terminated.exitCode)}`}`;
    else if (
      waiting !== undefined &&
      text(waiting.reason, '') !== '' &&
      waiting.reason !== 'PodInitializing'
    )
      reason = `Init:${text(waiting.reason, '')}`;
    else reason = `Init:${index}/${initContainers.length}`;
    initializing = true;
  });
  const initialized = asArray(status.conditions).some(
    (c) => c.type === 'Initialized' && c.status === 'True',
  );
  if (!initializing || initialized) {
    restarts = asArray(status.initContainerStatuses)
      .filter((c) => restartable(c.name))
      .reduce((sum, c) => sum + (typeof c.restartCount === 'number' ? c.restartCount : 0), 0);
    let hasRunning = false;
    for (const container of [...asArray(status.containerStatuses)].reverse()) {
      restarts += typeof container.restartCount === 'number' ? container.restartCount : 0;
      const state = asRecord(container.state);
      const waiting = asRecord(state.waiting);
      const terminated = isRecord(state.terminated) ? state.terminated : undefined;
      if (text(waiting.reason, '') !== '') reason = text(waiting.reason, '');
      else if (terminated !== undefined)
        reason = text(terminated.reason, '') || `ExitCode:${String(terminated.exitCode)}`;
      else if (container.ready === true && isRecord(state.running)) {
        hasRunning = true;
        ready += 1;
      }
    }
    if (reason === 'Completed' && hasRunning) {
      const podReady = asArray(status.conditions).some(
        (c) => c.type === 'Ready' && c.status === 'True',
      );
      reason = podReady ? 'Running' : 'NotReady';
    }
  }
  const phase = text(status.phase, '');
  if (pod.metadata.deletionTimestamp !== undefined && status.reason === 'NodeLost')
    reason = 'Unknown';
  else if (
    pod.metadata.deletionTimestamp !== undefined &&
    phase !== 'Succeeded' &&
    phase !== 'Failed'
  )
    reason = 'Terminating';
  total = Math.max(total, 0);
  const gates = asArray(spec.readinessGates);
  const gateCell =
    gates.length === 0
      ? '<none>'
      : `${gates.filter((g) => asArray(status.conditions).some((c) => c.type === g.conditionType && c.status === 'True')).length}/${gates.length}`;
  return [
    pod.metadata.name,
    `${ready}/${total}`,
    reason,
    String(restarts),
    since(pod.metadata.creationTimestamp, now),
    text(asArray(status.podIPs)[0]?.ip, '') || '<none>',
    text(spec.nodeName, '') || '<none>',
    text(status.nominatedNodeName, '') || '<none>',
    gateCell,
  ];
}

function serviceCells(service: KubeObject, now: number): unknown[] {
  const spec = asRecord(service.spec);
  const type = text(spec.type, '');
  const externalIPs = asArray(spec.externalIPs as unknown[]).map(String);
  let external = '<unknown>';
  if (type === 'ClusterIP' || type === 'NodePort')
    external = externalIPs.length > 0 ? externalIPs.join(',') : '<none>';
  else if (type === 'ExternalName') external = text(spec.externalName, '');
  else if (type === 'LoadBalancer') {
    const ingress = asArray(asRecord(asRecord(service.status).loadBalancer).ingress)
      .map((i) => text(i.ip, '') || text(i.hostname, ''))
      .filter((value) => value !== '');
    const all = [...new Set(ingress)].sort().concat(externalIPs);
    external = all.length > 0 ? all.join(',') : '<pending>';
  }
  const ports = asArray(spec.ports)
    .map((p) =>
      typeof p.nodePort === 'number' && p.nodePort > 0
        ? `${String(p.port)}:${p.nodePort}/${text(p.protocol, 'TCP')}`
        : `${String(p.port)}/${text(p.protocol, 'TCP')}`,
    )
    .join(',');
  return [
    service.metadata.name,
    type,
    // The API server always fills clusterIPs from clusterIP (dual-stack defaulting, 1.20+).
    text(asArray(spec.clusterIPs)[0], '') || text(spec.clusterIP, '') || '<none>',
    external,
    ports || '<none>',
    since(service.metadata.creationTimestamp, now),
    formatLabels(spec.selector),
  ];
}

function nodeCells(node: KubeObject, now: number): unknown[] {
  const status = asRecord(node.status);
  const readyCondition = asArray(status.conditions).find((c) => c.type === 'Ready');
  const states = [
    readyCondition === undefined
      ? 'Unknown'
      : readyCondition.status === 'True'
        ? 'Ready'
        : 'NotReady',
  ];
  if (asRecord(node.spec).unschedulable === true) states.push('SchedulingDisabled');
  const roles = Object.entries(node.metadata.labels ?? {})
    .flatMap(([key, value]) =>
      key.startsWith('node-role.kubernetes.io/') && key.length > 24
        ? [key.slice(24)]
        : key === 'kubernetes.io/role' && value !== ''
          ? [value]
          : [],
    )
    .sort();
  const info = asRecord(status.nodeInfo);
  const address = (type: string): string =>
    text(asArray(status.addresses).find((a) => a.type === type)?.address, '') || '<none>';
  return [
    node.metadata.name,
    states.join(','),
    roles.length === 0 ? '<none>' : [...new Set(roles)].join(','),
    since(node.metadata.creationTimestamp, now),
    text(info.kubeletVersion, ''),
    address('InternalIP'),
    address('ExternalIP'),
    text(info.osImage, '') || '<unknown>',
    text(info.kernelVersion, '') || '<unknown>',
    text(info.containerRuntimeVersion, '') || '<unknown>',
  ];
}

function eventCells(event: Json & KubeObject, now: number): unknown[] {
  const first = event.firstTimestamp
    ? since(event.firstTimestamp, now)
    : since(event.eventTime, now);
  const last = event.lastTimestamp ? since(event.lastTimestamp, now) : first;
  const involved = asRecord(event.involvedObject);
  const kind = text(involved.kind, '').toLowerCase();
  const target = text(involved.name, '') ? `${kind}/${text(involved.name, '')}` : kind;
  const source = asRecord(event.source);
  const component = text(source.component, '') || text(event.reportingComponent, '');
  const host = text(source.host, '') || text(event.reportingInstance, '');
  const count = typeof event.count === 'number' && event.count > 0 ? event.count : 1;
  return [
    last,
    text(event.type, ''),
    text(event.reason, ''),
    target,
    text(involved.fieldPath, ''),
    host === '' ? component : `${component}, ${host}`,
    text(event.message, '').trim(),
    first,
    count,
    event.metadata.name,
  ];
}

function builtinCells(kind: string, object: KubeObject, now: number): unknown[] | undefined {
  const spec = asRecord(object.spec);
  const status = asRecord(object.status);
  const age = since(object.metadata.creationTimestamp, now);
  const count = (value: unknown): number => Object.keys(asRecord(value)).length;
  const number = (value: unknown): number => (typeof value === 'number' ? value : 0);
  switch (kind) {
    case 'Pod':
      return podCells(object, now);
    case 'Deployment':
      return [
        object.metadata.name,
        `${number(status.readyReplicas)}/${number(spec.replicas)}`,
        number(status.updatedReplicas),
        number(status.availableReplicas),
        age,
        ...containerCells(asRecord(spec.template).spec),
        selectorString(spec.selector),
      ];
    case 'ReplicaSet':
      return [
        object.metadata.name,
        number(spec.replicas),
        number(status.replicas),
        number(status.readyReplicas),
        age,
        ...containerCells(asRecord(spec.template).spec),
        selectorString(spec.selector) || '<none>',
      ];
    case 'Service':
      return serviceCells(object, now);
    case 'Namespace':
      return [object.metadata.name, text(status.phase, ''), age];
    case 'Node':
      return nodeCells(object, now);
    case 'ConfigMap':
      return [object.metadata.name, count(object.data) + count(object.binaryData), age];
    case 'Secret':
      return [object.metadata.name, text(object.type, ''), count(object.data), age];
    case 'ServiceAccount':
      return [object.metadata.name, asArray(object.secrets).length, age];
    case 'NetworkPolicy':
      return [object.metadata.name, selectorString(spec.podSelector) || '<none>', age];
    case 'Event':
      return eventCells(object, now);
    case 'PodDisruptionBudget': {
      const intOrPercent = (value: unknown): string =>
        typeof value === 'number' || typeof value === 'string' ? String(value) : 'N/A';
      return [
        object.metadata.name,
        intOrPercent(spec.minAvailable),
        intOrPercent(spec.maxUnavailable),
        number(status.disruptionsAllowed),
        age,
      ];
    }
    default:
      return undefined;
  }
}

/** A simple `.a.b` JSONPath of a CRD column. */
function jsonPathValue(object: unknown, path: string): unknown {
  let current: unknown = object;
  for (const segment of path.split('.').filter((part) => part !== '')) {
    if (!isRecord(current)) return undefined;
    current = current[segment];
  }
  return current;
}

function customCell(column: PrinterColumn, value: unknown, now: number): unknown {
  if (value === undefined || value === null) return null;
  switch (column.type) {
    case 'string':
      return typeof value === 'string' ? value : JSON.stringify(value);
    case 'date':
      return typeof value === 'string' ? since(value, now) : null;
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
  }
}

function definition(column: PrinterColumn): Json {
  return {
    name: column.name,
    type: column.type,
    format: column.format ?? '',
    description: column.jsonPath
      ? `Custom resource definition column (in JSONPath format): ${column.jsonPath}`
      : '',
    priority: column.priority ?? 0,
  };
}

/** What a Table request asks of the rows (`?includeObject=`). */
export interface TableOptions {
  includeObject: string;
  noHeaders: boolean;
  tableVersion: 'v1' | 'v1beta1';
  now: number;
  resourceVersion: string;
}

/** The table options of a request. */
export function tableOptions(
  query: URLSearchParams,
  tableVersion: 'v1' | 'v1beta1',
  now: number,
  resourceVersion: string,
): TableOptions {
  const includeObject = query.get('includeObject') || TABLE_DEFAULT_INCLUDE_OBJECT;
  if (!['None', 'Metadata', 'Object'].includes(includeObject))
    throw badRequestError(`unrecognized includeObject value: "${includeObject}"`);
  return { includeObject, noHeaders: false, tableVersion, now, resourceVersion };
}

/** The Table of `objects` (already at the served version). */
export function toTable(
  type: ResourceType,
  objects: readonly KubeObject[],
  options: TableOptions,
): Json {
  const builtin = type.custom ? undefined : BUILTIN_PRINTER_COLUMNS[type.kind];
  const custom = ISTIO_PRINTER_COLUMNS[type.key] ?? CRD_DEFAULT_COLUMNS;
  const columns: readonly PrinterColumn[] =
    builtin ??
    (type.custom
      ? [CRD_NAME_COLUMN, ...custom]
      : [CRD_NAME_COLUMN, { name: 'Created At', type: 'date' }]);
  const rows = objects.map((object) => {
    let cells = builtin === undefined ? undefined : builtinCells(type.kind, object, options.now);
    if (cells === undefined) {
      cells = type.custom
        ? [
            object.metadata.name,
            ...custom.map((c) =>
              customCell(c, jsonPathValue(object, c.jsonPath ?? ''), options.now),
            ),
          ]
        : [object.metadata.name, object.metadata.creationTimestamp];
    }
    const apiVersion = `meta.k8s.io/${options.tableVersion}`;
    const row: Json = { cells };
    if (options.includeObject === 'Object') row.object = object;
    else if (options.includeObject === 'Metadata')
      row.object = { kind: 'PartialObjectMetadata', apiVersion, metadata: object.metadata };
    const phase = text(asRecord(object.status).phase, '');
    if (type.kind === 'Pod' && (phase === 'Succeeded' || phase === 'Failed'))
      row.conditions = [
        {
          type: 'Completed',
          status: 'True',
          reason: phase,
          message:
            phase === 'Succeeded' ? 'The pod has completed successfully.' : 'The pod failed.',
        },
      ];
    return row;
  });
  return {
    kind: 'Table',
    apiVersion: `meta.k8s.io/${options.tableVersion}`,
    metadata: { resourceVersion: options.resourceVersion },
    columnDefinitions: options.noHeaders ? null : columns.map(definition),
    rows,
  };
}

/** The Table of a GET's answer: a list (its items) or one object. */
export function asTable(type: ResourceType, answer: Json, options: TableOptions): Json {
  if (Array.isArray(answer.items)) {
    const apiVersion = text(answer.apiVersion, '');
    const items = asArray(answer.items).map(
      (item) => ({ apiVersion, kind: type.kind, ...item }) as unknown as KubeObject,
    );
    const resourceVersion = text(asRecord(answer.metadata).resourceVersion, '');
    return toTable(type, items, { ...options, resourceVersion });
  }
  const object = answer as unknown as KubeObject;
  return toTable(type, [object], {
    ...options,
    resourceVersion: object.metadata.resourceVersion ?? '',
  });
}
