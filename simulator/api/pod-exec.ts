/** `pods/exec` over WebSocket (v4/v5 channel protocol); the mesh model runs the command. */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { text, type Json } from '../json.ts';
import { ApiError, badRequestError } from '../store/errors.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { ExecHandler, ExecResult, KubeObject } from '../types.ts';
import { requireStarted, resolveContainer } from './containers.ts';
import { existingObject } from './objects.ts';
import { internalError, notFoundPath, rejectUpgrade } from './responses.ts';
import { routeFor } from './routes.ts';

const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];

/** Accepts exec upgrades and runs each session; `close` ends the open ones. */
export class PodExec {
  readonly #store: ObjectStore;
  readonly #exec: ExecHandler;
  readonly #wss: WebSocketServer;

  constructor(store: ObjectStore, exec: ExecHandler) {
    this.#store = store;
    this.#exec = exec;
    this.#wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) =>
        EXEC_PROTOCOLS.find((protocol) => protocols.has(protocol)) ?? false,
    });
  }

  close(): void {
    for (const client of this.#wss.clients) client.terminate();
    this.#wss.close();
  }

  upgrade(request: IncomingMessage, socket: Socket, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'https://127.0.0.1');
    try {
      const route = routeFor(url.pathname);
      if (
        route?.kind !== 'resource' ||
        route.resource.type.kind !== 'Pod' ||
        route.resource.subresource !== 'exec'
      ) {
        throw notFoundPath();
      }
      const pod = existingObject(this.#store, route.resource);
      const query = url.searchParams;
      const container = resolveContainer(pod, query.get('container') ?? '');
      requireStarted(pod, container, 'exec');
      const command = query.getAll('command');
      if (command.length === 0) throw badRequestError('you must specify at least 1 command');
      const offered = text(request.headers['sec-websocket-protocol'], '')
        .split(',')
        .map((protocol) => protocol.trim());
      if (!EXEC_PROTOCOLS.some((protocol) => offered.includes(protocol))) {
        throw badRequestError(
          `unable to upgrade connection: none of the offered subprotocols (${offered.join(', ')}) is supported; want one of ${EXEC_PROTOCOLS.join(', ')}`,
        );
      }
      const streams = {
        stdout: query.get('stdout') === 'true' || query.get('stdout') === '1',
        stderr: query.get('stderr') === 'true' || query.get('stderr') === '1',
        tty: query.get('tty') === 'true' || query.get('tty') === '1',
      };
      this.#wss.handleUpgrade(request, socket, head, (ws) => {
        void this.#run(ws, pod, container, command, streams);
      });
    } catch (error) {
      const apiError = error instanceof ApiError ? error : internalError(error);
      rejectUpgrade(socket, apiError.code, apiError.toStatus());
    }
  }

  async #run(
    ws: WebSocket,
    pod: KubeObject,
    container: string,
    command: string[],
    streams: { stdout: boolean; stderr: boolean; tty: boolean },
  ): Promise<void> {
    const aborted = new AbortController();
    ws.on('close', () => aborted.abort());
    // stdin frames (channel 0) and resize frames (4) are accepted and ignored: the
    // simulated commands read no input.
    ws.on('message', () => undefined);
    let result: ExecResult | undefined;
    let failure: unknown;
    try {
      result = await this.#exec.exec({
        namespace: pod.metadata.namespace ?? 'default',
        pod,
        container,
        command,
        signal: aborted.signal,
      });
    } catch (error) {
      failure = error;
    }
    if (ws.readyState !== ws.OPEN) return;
    const send = (channel: number, text: string): void => {
      if (text.length === 0) return;
      ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(text)]));
    };
    let status: Json;
    if (result === undefined) {
      const message = failure instanceof Error ? failure.message : String(failure);
      status = {
        metadata: {},
        status: 'Failure',
        message,
        reason: 'InternalError',
        details: { causes: [{ message }] },
        code: 500,
      };
    } else {
      if (streams.tty) {
        if (streams.stdout) send(1, result.stdout + result.stderr);
      } else {
        if (streams.stdout) send(1, result.stdout);
        if (streams.stderr) send(2, result.stderr);
      }
      status =
        result.exitCode === 0
          ? { metadata: {}, status: 'Success' }
          : {
              metadata: {},
              status: 'Failure',
              message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${result.exitCode}`,
              reason: 'NonZeroExitCode',
              details: { causes: [{ reason: 'ExitCode', message: String(result.exitCode) }] },
            };
    }
    ws.send(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify(status))]));
    ws.close(1000);
  }
}
