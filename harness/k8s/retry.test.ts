// The adapter's retries and deadlines against a scripted in-process HTTP server: each
// transient answer is retried for idempotent requests (and Retry-After honoured), creates
// are not sent twice, a body that stalls or breaks off fails its attempt instead of hanging
// or truncating, and a server that never answers becomes one ApiUnavailableError in bounded
// time, after which the process asks it nothing more.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Kube } from './client.ts';
import { writeKubeconfig } from '../testing/kubeconfig.ts';
import { readContainerLog } from './logs.ts';
import { createNamespace } from './namespaces.ts';
import {
  ApiUnavailableError,
  isApiUnavailableMessage,
  requestIdempotency,
  resetApiHealth,
  retryAfterMs,
  setApiStep,
} from './retry.ts';
import { RUN_LABEL } from '../run-labels.ts';

type Script = (request: IncomingMessage, response: ServerResponse, attempt: number) => void;

let server: Server;
let url: string;
let script: Script = (_request, response) => response.end();
const attempts = new Map<string, number>();
const NAMESPACE = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns1' } };

beforeAll(async () => {
  server = createServer((request, response) => {
    const key = `${request.method} ${request.url?.split('?')[0]}`;
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    script(request, response, attempt);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

afterEach(() => {
  attempts.clear();
  resetApiHealth();
  server.closeAllConnections();
});

function kube(timeouts = { apiRequest: 400, apiUnavailable: 10_000 }): Kube {
  const kubeconfig = writeKubeconfig(
    `{server: "${url}", insecure-skip-tls-verify: true}`,
    '{token: secret-token}',
  );
  return connect({ kubeconfigPath: kubeconfig, timeouts });
}

function json(response: ServerResponse, code: number, body: unknown, headers = {}): void {
  response.writeHead(code, { 'Content-Type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

const status = (code: number, reason: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  message: reason,
  reason,
  code,
});

describe('retries of idempotent requests', () => {
  it('gets through 429, 500, 503 and a dropped connection, waiting as Retry-After asks', async () => {
    script = (request, response, attempt) => {
      if (attempt === 1)
        return json(response, 429, status(429, 'TooManyRequests'), { 'Retry-After': '1' });
      if (attempt === 2) return json(response, 500, status(500, 'InternalError'));
      if (attempt === 3) return json(response, 503, status(503, 'ServiceUnavailable'));
      if (attempt === 4) return void request.socket.destroy();
      json(response, 200, NAMESPACE);
    };
    const started = Date.now();
    const namespace = await kube().core.readNamespace({ name: 'ns1' });
    expect(namespace.metadata?.name).toBe('ns1');
    expect(attempts.get('GET /api/v1/namespaces/ns1')).toBe(5);
    // Retry-After: 1 after the first attempt.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('hands on a 500 that outlasts the budget as the server said it (not as unavailability)', async () => {
    script = (_request, response) => json(response, 500, status(500, 'InternalError'));
    const error = await kube({ apiRequest: 400, apiUnavailable: 600 })
      .core.readNamespace({ name: 'ns1' })
      .catch((caught: unknown) => caught);
    expect(error).not.toBeInstanceOf(ApiUnavailableError);
    expect((error as { code?: number }).code).toBe(500);
    expect(attempts.get('GET /api/v1/namespaces/ns1')).toBeGreaterThan(1);
  });

  it('reads a log again when its body stalls or breaks off, and never returns it truncated', async () => {
    const path = 'GET /api/v1/namespaces/ns1/pods/p/log';
    script = (request, response, attempt) => {
      response.writeHead(200, { 'Content-Type': 'text/plain' });
      response.write('first half\n');
      if (attempt === 1) return; // stalls: headers and half a body, then nothing
      if (attempt === 2) return void setTimeout(() => request.socket.destroy(), 20); // breaks off
      response.end('second half\n');
    };
    const text = await readContainerLog(kube(), { namespace: 'ns1', pod: 'p', container: 'c' });
    expect(text).toBe('first half\nsecond half\n');
    expect(attempts.get(path)).toBe(3);
  });
});

describe('requests that must not be doubled', () => {
  it('sends a create once on a 500, but again on a 429 (refused before the handler)', async () => {
    script = (_request, response) => json(response, 500, status(500, 'InternalError'));
    await expect(kube().core.createNamespace({ body: NAMESPACE })).rejects.toMatchObject({
      code: 500,
    });
    expect(attempts.get('POST /api/v1/namespaces')).toBe(1);
    attempts.clear();
    script = (_request, response, attempt) =>
      attempt === 1
        ? json(response, 429, status(429, 'TooManyRequests'), { 'Retry-After': '0' })
        : json(response, 201, NAMESPACE);
    await kube().core.createNamespace({ body: NAMESPACE });
    expect(attempts.get('POST /api/v1/namespaces')).toBe(2);
  });

  it('creates a namespace whose first answer was lost, recognising its own on the 409', async () => {
    const mine = { ...NAMESPACE, metadata: { name: 'ns1', labels: { [RUN_LABEL]: 'run1' } } };
    script = (request, response, attempt) => {
      if (request.method === 'GET') return json(response, 200, mine);
      // The first create is acted on but its answer never arrives; the second finds it.
      if (attempt === 1) return void request.socket.destroy();
      json(response, 409, status(409, 'AlreadyExists'));
    };
    const created = await createNamespace(kube(), { name: 'ns1', runId: 'run1' });
    expect(created.metadata?.labels?.[RUN_LABEL]).toBe('run1');
    expect(attempts.get('POST /api/v1/namespaces')).toBe(2);
  });

  it("does not take another run's namespace for its own", async () => {
    script = (request, response, attempt) => {
      if (request.method === 'GET')
        return json(response, 200, {
          ...NAMESPACE,
          metadata: { name: 'ns1', labels: { [RUN_LABEL]: 'other' } },
        });
      if (attempt === 1) return void request.socket.destroy();
      json(response, 409, status(409, 'AlreadyExists'));
    };
    await expect(createNamespace(kube(), { name: 'ns1', runId: 'run1' })).rejects.toThrow(
      /Creating namespace ns1 failed: HTTP 409/,
    );
  });

  it('classifies requests by what a second one could double', () => {
    expect(requestIdempotency('GET', 'https://k/api/v1/pods')).toBe('idempotent');
    expect(requestIdempotency('PUT', 'https://k/api/v1/namespaces/a/configmaps/b')).toBe(
      'idempotent',
    );
    expect(requestIdempotency('DELETE', 'https://k/api/v1/namespaces/a')).toBe('idempotent');
    expect(requestIdempotency('PATCH', 'https://k/x', 'application/apply-patch+yaml')).toBe(
      'idempotent',
    );
    expect(requestIdempotency('PATCH', 'https://k/x', 'application/merge-patch+json')).toBe(
      'idempotent',
    );
    expect(requestIdempotency('PATCH', 'https://k/x', 'application/json-patch+json')).toBe(
      'effectful',
    );
    expect(
      requestIdempotency('PATCH', 'https://k/x', 'application/strategic-merge-patch+json'),
    ).toBe('effectful');
    expect(requestIdempotency('POST', 'https://k/api/v1/namespaces')).toBe('effectful');
    expect(
      requestIdempotency('POST', 'https://k/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'),
    ).toBe('idempotent');
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 7000)).toBe(3000);
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});

describe('a server that stops answering', () => {
  it('becomes one ApiUnavailableError within the budget, naming the server and the step, and later requests fail at once', async () => {
    script = () => undefined; // accepts and reads, never answers
    setApiStep('the setup of http-gateway [mtls disabled, istio-api]');
    const client = kube({ apiRequest: 300, apiUnavailable: 1000 });
    const started = Date.now();
    const error = await client.core
      .readNamespace({ name: 'ns1' })
      .catch((caught: unknown) => caught);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(ApiUnavailableError);
    const message = (error as Error).message;
    expect(isApiUnavailableMessage(message)).toBe(true);
    expect(message).toContain(
      `The Kubernetes API server at ${url} stopped answering during the setup of http-gateway`,
    );
    expect(message).toContain('GET /api/v1/namespaces/ns1');
    expect(message).not.toContain('secret-token');
    // The budget plus at most one attempt in flight when it ran out.
    expect(elapsed).toBeLessThan(1000 + 300 + 500);
    const before = attempts.get('GET /api/v1/namespaces/ns1') ?? 0;
    const again = Date.now();
    await expect(client.core.deleteNamespace({ name: 'ns1' })).rejects.toBeInstanceOf(
      ApiUnavailableError,
    );
    expect(Date.now() - again).toBeLessThan(100);
    expect(attempts.get('GET /api/v1/namespaces/ns1')).toBe(before);
    expect(attempts.get('DELETE /api/v1/namespaces/ns1')).toBeUndefined();
  });
});
