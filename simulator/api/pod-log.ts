/** `pods/log`: the kubelet's log endpoint, with its filters applied in the kubelet's order. */
import type { ServerResponse } from 'node:http';
import { badRequestError } from '../store/errors.ts';
import { formatLogTimestamp } from '../store/logs.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { requireStarted, resolveContainer } from './containers.ts';
import { existingObject } from './objects.ts';
import type { ResourceRequest } from './routes.ts';

/** Answers a `pods/log` GET with the container's lines as plain text. */
export function servePodLog(
  store: ObjectStore,
  resource: ResourceRequest,
  query: URLSearchParams,
  response: ServerResponse,
): void {
  const pod = existingObject(store, resource);
  const container = resolveContainer(pod, query.get('container') ?? '');
  if (query.get('previous') === 'true') {
    throw badRequestError(
      `previous terminated container "${container}" in pod "${pod.metadata.name}" not found`,
    );
  }
  requireStarted(pod, container, 'log');
  let entries = [...store.logs.read(pod.metadata.namespace ?? '', pod.metadata.name, container)];
  const sinceTime = query.get('sinceTime');
  const sinceSeconds = query.get('sinceSeconds');
  if (sinceTime !== null && sinceTime !== '') {
    const parsed = Date.parse(sinceTime);
    if (Number.isNaN(parsed))
      throw badRequestError(
        `parsing time "${sinceTime}" as "2006-01-02T15:04:05Z07:00": cannot parse`,
      );
    // The API server forwards sinceTime to the kubelet at one-second precision: lines
    // from earlier in the same second are returned too, as on a real cluster.
    const since = Math.floor(parsed / 1000) * 1000;
    entries = entries.filter((entry) => entry.time >= since);
  } else if (sinceSeconds !== null && sinceSeconds !== '') {
    const since = store.now() - Number(sinceSeconds) * 1000;
    entries = entries.filter((entry) => entry.time >= since);
  }
  const tailLines = query.get('tailLines');
  if (tailLines !== null && tailLines !== '')
    entries = entries.slice(Math.max(0, entries.length - Number(tailLines)));
  const timestamps = query.get('timestamps') === 'true';
  let text = entries
    .map((entry) => `${timestamps ? `${formatLogTimestamp(entry)} ` : ''}${entry.text}\n`)
    .join('');
  const limitBytes = Number(query.get('limitBytes') ?? '0');
  if (limitBytes > 0) text = Buffer.from(text).subarray(0, limitBytes).toString();
  response.writeHead(200, {
    'Content-Type': 'text/plain',
    'Content-Length': Buffer.byteLength(text),
  });
  response.end(text);
}
