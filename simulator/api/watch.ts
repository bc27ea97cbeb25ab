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
import { versioned } from './objects.ts';
import type { ResourceRequest } from './routes.ts';

/** What a watch needs; `closers` lets the server end every open watch when it stops. */
export interface WatchRequest {
  store: ObjectStore;
  resource: ResourceRequest;
  query: URLSearchParams;
  request: IncomingMessage;
  response: ServerResponse;
  closers: Set<() => void>;
}

/** Streams events until the client goes, `timeoutSeconds` passes, or the server closes. */
export function serveWatch({
  store,
  resource,
  query,
  request,
  response,
  closers,
}: WatchRequest): void {
  const { type } = resource;
  const labelSelector = query.get('labelSelector') ?? '';
  const fieldSelector = query.get('fieldSelector') ?? '';
  const labels = parseLabelSelector(labelSelector);
  const fields = parseFieldSelector(fieldSelector);
  const matches = (object: KubeObject): boolean =>
    object.kind === type.kind &&
    (resource.namespace === undefined || object.metadata.namespace === resource.namespace) &&
    matchesLabelRequirements(labels, object.metadata.labels) &&
    matchesFieldRequirements(fields, object);
  response.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  // Clients (client-node's Watch) wait for the headers before reading events.
  response.flushHeaders();
  const write = (event: StoreEvent['type'], object: KubeObject): void => {
    response.write(`${JSON.stringify({ type: event, object: versioned(object, resource) })}\n`);
  };
  // Without a resourceVersion a watch starts with the current state as ADDED events;
  // with one, it starts now (this store keeps no event history to replay).
  const since = query.get('resourceVersion');
  if (since === null || since === '' || since === '0') {
    for (const object of store.list(
      type.kind,
      resource.namespace === undefined ? {} : { namespace: resource.namespace },
    )) {
      if (matches(object)) write('ADDED', object);
    }
  }
  const unsubscribe = store.watch((change) => {
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
