/** Sends each request (health, version, OpenAPI, discovery, resources as JSON or Tables, logs, watch, exec) where it goes. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Json } from '../json.ts';
import { ApiError, badRequestError } from '../store/errors.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { ExecHandler } from '../types.ts';
import { readBody } from './bodies.ts';
import { servedBy, type ServedPredicate } from './crd-serving.ts';
import { dispatch } from './crud.ts';
import { discovery } from './discovery.ts';
import { checkStrictFields } from './field-validation.ts';
import { openApiDocument } from './openapi.ts';
import { PodExec } from './pod-exec.ts';
import { servePodLog } from './pod-log.ts';
import { decodeProtobufObject, isProtobuf } from './protobuf.ts';
import { internalError, methodNotAllowed, notFoundPath, sendJson } from './responses.ts';
import { routeFor } from './routes.ts';
import { asTable, tableOptions, tableRequested } from './tables.ts';
import { DEFAULT_KUBERNETES_MINOR } from './validation.ts';
import { serveWatch } from './watch.ts';

/** The API server's request handling, apart from TLS and authentication. */
export class ApiHandler {
  readonly #store: ObjectStore;
  readonly #version: string;
  readonly #closers = new Set<() => void>();
  readonly #exec: PodExec;
  readonly #served: ServedPredicate;

  readonly #minor: number;

  constructor(store: ObjectStore, exec: ExecHandler, version: string) {
    this.#store = store;
    this.#version = version;
    this.#minor = Number(version.replace(/^v/, '').split('.')[1] ?? DEFAULT_KUBERNETES_MINOR);
    this.#exec = new PodExec(store, exec);
    this.#served = servedBy(store);
  }

  /** Ends open watches and exec sessions. */
  close(): void {
    for (const close of [...this.#closers]) close();
    this.#exec.close();
  }

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'https://127.0.0.1');
    const method = request.method ?? 'GET';
    const warnings: string[] = [];
    try {
      if (['/healthz', '/livez', '/readyz'].includes(url.pathname)) {
        response.writeHead(200, { 'Content-Type': 'text/plain' });
        response.end('ok');
        return;
      }
      if (url.pathname === '/version') {
        sendJson(response, 200, this.#versionInfo());
        return;
      }
      if (url.pathname === '/openapi' || url.pathname.startsWith('/openapi/')) {
        if (method !== 'GET') throw methodNotAllowed();
        const document = openApiDocument(url.pathname, request.headers.accept ?? '', this.#version);
        if (document === undefined) throw notFoundPath();
        response.writeHead(200, {
          'Content-Type': document.contentType,
          'Content-Length': document.body.length,
        });
        response.end(document.body);
        return;
      }
      const route = routeFor(url.pathname, this.#served);
      if (route === undefined) throw notFoundPath();
      if (route.kind !== 'resource') {
        if (method !== 'GET') throw methodNotAllowed();
        sendJson(response, 200, discovery(route, this.#served));
        return;
      }
      let contentType = request.headers['content-type'];
      let body = '';
      if (['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) {
        const raw = await readBody(request);
        if (isProtobuf(contentType) && method !== 'PATCH') {
          body = JSON.stringify(decodeProtobufObject(raw));
          contentType = 'application/json';
        } else body = raw.toString('utf8');
      }
      const resource = route.resource;
      const query = url.searchParams;
      if (resource.subresource === 'log' && resource.type.kind === 'Pod' && method === 'GET') {
        servePodLog(this.#store, resource, query, response);
        return;
      }
      if (resource.subresource === 'exec' && resource.type.kind === 'Pod') {
        throw badRequestError('Upgrade request required');
      }
      const table = tableRequested(request.headers.accept);
      if (query.get('watch') === 'true' || query.get('watch') === '1') {
        if (method !== 'GET') throw notFoundPath();
        serveWatch({
          store: this.#store,
          resource,
          query,
          request,
          response,
          closers: this.#closers,
          table,
        });
        return;
      }
      const call = {
        store: this.#store,
        resource,
        query,
        body,
        headers: { ...request.headers, 'content-type': contentType },
        dryRun: query.getAll('dryRun').includes('All'),
        kubernetesMinor: this.#minor,
        warnings,
      };
      checkStrictFields(method, call);
      const { code, object } = dispatch(method, call);
      const answer =
        method === 'GET' && table !== undefined
          ? asTable(
              resource.type,
              object as Json,
              tableOptions(query, table, this.#store.now(), ''),
            )
          : object;
      sendJson(response, code, answer, warnings);
    } catch (error) {
      const apiError = error instanceof ApiError ? error : internalError(error);
      sendJson(response, apiError.code, apiError.toStatus(), warnings);
    }
  }

  /** Connection upgrades: only `pods/exec` has one. */
  upgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    this.#exec.upgrade(request, socket, head);
  }

  #versionInfo(): Json {
    const [major, minor] = this.#version.replace(/^v/, '').split('.');
    return {
      major,
      minor,
      emulationMajor: major,
      emulationMinor: minor,
      minCompatibilityMajor: major,
      minCompatibilityMinor: String(Number(minor) - 1),
      gitVersion: this.#version,
      gitCommit: '0000000000000000000000000000000000000000',
      gitTreeState: 'clean',
      buildDate: '2026-05-15T00:00:00Z',
      goVersion: 'go1.25.9',
      compiler: 'gc',
      platform: 'linux/amd64',
    };
  }
}
