/** The HTTPS listener: a fresh CA and serving certificate, and bearer-token authentication. */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createCertificateAuthority, issueCertificate } from '../../harness/certs.ts';
import type { ObjectStore } from '../store/object-store.ts';
import type { ExecHandler } from '../types.ts';
import type { ApiFaultOptions } from '../types.ts';
import { ApiFaults } from './faults.ts';
import { ApiHandler } from './handler.ts';
import { internalError, rejectUpgrade, sendJson, unauthorizedStatus } from './responses.ts';

/** What the API server needs: the store it serves and the mesh model that answers exec. */
export interface ApiServerOptions {
  store: ObjectStore;
  execHandler: ExecHandler;
  /** Bearer token clients must send; random unless given. */
  token?: string;
  /** `gitVersion` of `/version`. */
  kubernetesVersion?: string;
  /** Transport faults (`api-flaky`, `api-down`); none unless given. */
  faults?: ApiFaultOptions;
}

/** A running simulated API server. */
export interface SimulatedApiServer {
  /** `https://127.0.0.1:<port>`. */
  url: string;
  port: number;
  token: string;
  /** PEM of the CA that issued the serving certificate (the kubeconfig's certificate-authority-data). */
  caPem: string;
  close(): Promise<void>;
}

/** Starts the server on a free port of 127.0.0.1. */
export async function startApiServer(options: ApiServerOptions): Promise<SimulatedApiServer> {
  const ca = createCertificateAuthority({ commonName: 'kubernetes' });
  const serving = issueCertificate(ca, {
    commonName: 'kube-apiserver',
    dnsNames: [
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ],
    ipAddresses: ['127.0.0.1', '10.96.0.1'],
  });
  const token = options.token ?? randomBytes(24).toString('hex');
  const api = new ApiHandler(
    options.store,
    options.execHandler,
    options.kubernetesVersion ?? 'v1.36.1',
  );
  const faults = options.faults ? new ApiFaults(options.faults) : undefined;
  const server = https.createServer(
    { key: serving.keyPem, cert: serving.certPem },
    (request, response) => {
      if (faults?.takeRequest(request, response)) return;
      if (!authorized(request, token)) {
        sendJson(response, 401, unauthorizedStatus());
        return;
      }
      api.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) sendJson(response, 500, internalError(error).toStatus());
        else response.destroy();
      });
    },
  );
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    if (faults?.takeUpgrade(socket)) return;
    if (!authorized(request, token)) {
      rejectUpgrade(socket, 401, unauthorizedStatus());
      return;
    }
    api.upgrade(request, socket, head);
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    token,
    caPem: ca.certPem,
    async close() {
      faults?.close();
      api.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function authorized(request: IncomingMessage, token: string): boolean {
  return request.headers.authorization === `Bearer ${token}`;
}
