/** Sends each request (health, version, discovery, resources, logs, watch, exec) where it goes. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Json } from '../json.ts';
import { ApiError, badRequestError } from '../store/errors.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { ExecHandler } from '../types.ts';
import { readBody } from './bodies.ts';
import { dispatch } from './crud.ts';
import { discovery } from './discovery.ts';
import { PodExec } from './pod-exec.ts';
import { servePodLog } from './pod-log.ts';
import { internalError, methodNotAllowed, notFoundPath, sendJson } from './responses.ts';
import { routeFor } from './routes.ts';
import { serveWatch } from './watch.ts';

/** The API server's request handling, apart from TLS and authentication. */
export class ApiHandler {
  readonly #store: ObjectStore;
  readonly #version: string;
  readonly #closers = new Set<() => void>();
  readonly #exec: PodExec;

  constructor(store: ObjectStore, exec: ExecHandler, version: string) {
    this.#store = store;
    this.#version = version;
    this.#exec = new PodExec(store, exec);
  }

  /** Ends open watches and exec sessions. */
  close(): void {
    for (const close of [...this.#closers]) close();
    this.#exec.close();
  }

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'https://127.0.0.1');
    const method = request.method ?? 'GET';
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
      const route = routeFor(url.pathname);
      if (route === undefined) throw notFoundPath();
      if (route.kind !== 'resource') {
        if (method !== 'GET') throw methodNotAllowed();
        sendJson(response, 200, discovery(route));
        return;
      }
      const body = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)
        ? await readBody(request)
        : '';
      const resource = route.resource;
      const query = url.searchParams;
      if (resource.subresource === 'log' && resource.type.kind === 'Pod' && method === 'GET') {
        servePodLog(this.#store, resource, query, response);
        return;
      }
      if (resource.subresource === 'exec' && resource.type.kind === 'Pod') {
        throw badRequestError('Upgrade request required');
      }
      if (query.get('watch') === 'true' || query.get('watch') === '1') {
        if (method !== 'GET' || resource.name !== undefined) throw notFoundPath();
        serveWatch({
          store: this.#store,
          resource,
          query,
          request,
          response,
          closers: this.#closers,
        });
        return;
      }
      const { code, object } = dispatch(method, {
        store: this.#store,
        resource,
        query,
        body,
        headers: request.headers,
        dryRun: query.getAll('dryRun').includes('All'),
      });
      sendJson(response, code, object);
    } catch (error) {
      const apiError = error instanceof ApiError ? error : internalError(error);
      sendJson(response, apiError.code, apiError.toStatus());
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
