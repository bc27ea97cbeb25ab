/** `?watch=true`: a chunked stream of store events, filtered as a list would be. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ObjectStore, StoreEvent } from '../store/object-store.ts';
import {
  matchesFieldRequirements,
  matchesLabelRequirements,
  parseFieldSelector,
  parseLabelSelector,
} from '../store/selectors.ts';
import type { KubeObject } from '../types.ts';
import { storeKeyOf } from '../store/resource-types.ts';
import { tooOldResourceVersion } from '../../harness/facts/kube-api.ts';
import { versioned } from './objects.ts';
import { tableOptions, toTable } from './tables.ts';
import type { ResourceRequest } from './routes.ts';

/** What a watch needs; `closers` lets the server end every open watch when it stops. */
export interface WatchRequest {
  store: ObjectStore;
  resource: ResourceRequest;
  query: URLSearchParams;
  request: IncomingMessage;
  response: ServerResponse;
  closers: Set<() => void>;
  /** The Table version the client asked for (`kubectl get -w`), if any. */
  table?: 'v1' | 'v1beta1' | undefined;
}

/** Streams events until the client goes, `timeoutSeconds` passes, or the server closes. */
export function serveWatch({
  store,
  resource,
  query,
  request,
  response,
  closers,
  table,
}: WatchRequest): void {
  const { type } = resource;
  const labelSelector = query.get('labelSelector') ?? '';
  const fieldSelector = query.get('fieldSelector') ?? '';
  const labels = parseLabelSelector(labelSelector);
  const fields = parseFieldSelector(fieldSelector);
  const matches = (object: KubeObject): boolean =>
    storeKeyOf(object) === type.key &&
    (resource.namespace === undefined || object.metadata.namespace === resource.namespace) &&
    // A watch on a named object's path (deprecated, still served) is one on metadata.name.
    (resource.name === undefined || object.metadata.name === resource.name) &&
    matchesLabelRequirements(labels, object.metadata.labels) &&
    matchesFieldRequirements(fields, object);
  response.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  // Clients (client-node's Watch) wait for the headers before reading events.
  response.flushHeaders();
  let headersSent = false;
  let lastSent = 0;
  const write = (event: StoreEvent['type'], object: KubeObject): void => {
    lastSent = Math.max(lastSent, Number(object.metadata.resourceVersion ?? 0));
    let payload: unknown = versioned(object, resource);
    if (table !== undefined) {
      // Column definitions ride on the first event only (TABLE_WATCH_HEADERS).
      const options = tableOptions(
        query,
        table,
        store.now(),
        object.metadata.resourceVersion ?? '',
      );
      payload = toTable(type, [payload as KubeObject], { ...options, noHeaders: headersSent });
      headersSent = true;
    }
    response.write(`${JSON.stringify({ type: event, object: payload })}\n`);
  };
  // Without a resourceVersion a watch starts with the current state as ADDED events; with
  // one, it replays what happened after it, or ends with 410 Expired when that is forgotten.
  const since = query.get('resourceVersion');
  if (since === null || since === '' || since === '0') {
    for (const object of store.list(
      type.key,
      resource.namespace === undefined ? {} : { namespace: resource.namespace },
    )) {
      if (matches(object)) write('ADDED', object);
    }
  } else {
    const replay = store.eventsSince(Number(since));
    if ('expired' in replay) {
      const status = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: tooOldResourceVersion(since, replay.oldest),
        reason: 'Expired',
        code: 410,
      };
      response.end(`${JSON.stringify({ type: 'ERROR', object: status })}\n`);
      return;
    }
    for (const change of replay.events)
      if (matches(change.object)) write(change.type, change.object);
    lastSent = Math.max(lastSent, Number(since));
  }
  const unsubscribe = store.watch((change) => {
    // Events already replayed from the history are not sent twice.
    if (Number(change.object.metadata.resourceVersion ?? 0) <= lastSent) return;
    if (matches(change.object)) write(change.type, change.object);
  });
  const close = (): void => {
    unsubscribe();
    clearTimeout(timer);
    closers.delete(close);
    if (!response.writableEnded) response.end();
  };
  const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '1800');
  const timer = setTimeout(close, Math.max(1, timeoutSeconds) * 1000);
  closers.add(close);
  request.on('close', close);
}
