/** Error and JSON answers written one way, for plain requests and refused upgrades alike. */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Json } from '../json.ts';
import { ApiError } from '../store/errors.ts';

/** Sends `body` as JSON; `warnings` become `Warning: 299 - "<text>"` headers, as the API server writes them. */
export function sendJson(
  response: ServerResponse,
  code: number,
  body: unknown,
  warnings: readonly string[] = [],
): void {
  const text = JSON.stringify(body);
  response.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...(warnings.length === 0
      ? {}
      : { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`) }),
  });
  response.end(text);
}

/** Answers an upgrade request over the raw socket: no HTTP response object exists for it. */
export function rejectUpgrade(socket: Socket, code: number, body: Json): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}

export function unauthorizedStatus(): Json {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: 'Unauthorized',
    reason: 'Unauthorized',
    code: 401,
  };
}

export function internalError(error: unknown): ApiError {
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, {
    causes: [{ reason: '', message }],
  });
}

export function notFoundPath(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource');
}

export function methodNotAllowed(): ApiError {
  return new ApiError(
    405,
    'MethodNotAllowed',
    'the server does not allow this method on the requested resource',
  );
}
