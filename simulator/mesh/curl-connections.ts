/**
 * The connection cache of one curl process (CURL_CONNECTION_REUSE): the transfers of a curl
 * loop (simulator/processes.ts) go over one connection for as long as it lives, as the real
 * curl's do. What the network between curl and the far end is made of decides how long that
 * is: for TLS, which the client's sidecar and the gateway only relay (tcp_proxy), the
 * connection lives while the gateway pod it went through runs its Envoy, which is until that
 * pod's termination drain has passed (GATEWAY_TERMINATION_DRAIN); then curl finds it dead
 * and connects again, through whichever gateway pod is ready then.
 */
import type { KubeObject, SimExternalHost } from '../types.ts';

/** What one connection went through when it was opened. */
export interface ConnectionPath {
  /** The gateway pod the connection is pinned to, if it went through one. */
  gateway?: { uid: string; namespace: string; name: string };
  /** The far end that answered: on an established tunnel, every later exchange reaches it. */
  external?: { host: SimExternalHost; port: number };
}

/** An open connection of the process. */
export interface OpenConnection {
  id: number;
  /** `scheme://ip:port` as curl connected: reuse needs the same. */
  key: string;
  localPort: number;
  /** TLS the proxies relay without looking in: later exchanges do not go through routing again. */
  opaque: boolean;
  path: ConnectionPath;
}

/** Whether a gateway pod's Envoy still runs (alive, or deleted less than its drain ago). */
export type GatewayRuns = (gateway: NonNullable<ConnectionPath['gateway']>) => boolean;

export class CurlConnections {
  readonly #gatewayRuns: GatewayRuns;
  #nextId = 0;
  #open: OpenConnection | undefined;
  /** What the transfer in progress has passed through (network.ts notes it). */
  #trace: ConnectionPath = {};

  constructor(gatewayRuns: GatewayRuns) {
    this.#gatewayRuns = gatewayRuns;
  }

  /**
   * The open connection to `key`, if curl would reuse it: an opaque one only while its gateway
   * pod runs. A dead one is dropped, as curl's liveness check before reuse does.
   */
  reusable(key: string): OpenConnection | undefined {
    const open = this.#open;
    if (open === undefined || open.key !== key) return undefined;
    const gateway = open.path.gateway;
    if (open.opaque && gateway !== undefined && !this.#gatewayRuns(gateway)) {
      this.#open = undefined;
      return undefined;
    }
    return open;
  }

  /** A new connection is being opened: what it passes through is noted from now on. */
  opening(): void {
    this.#trace = {};
  }

  /** The id of a connection that was made (ids are unique in the cache, from 0). */
  nextId(): number {
    return this.#nextId++;
  }

  /** The path the last opened connection took. */
  get trace(): ConnectionPath {
    return this.#trace;
  }

  /** The transfer left its connection open: the next one may reuse it. */
  keep(connection: OpenConnection): void {
    this.#open = connection;
  }

  /** The transfer's connection ended (failure, `Connection: close`). */
  close(): void {
    this.#open = undefined;
  }

  /** network.ts: the connection reached a gateway pod (the first one is the one it is pinned to). */
  noteGateway(pod: KubeObject): void {
    this.#trace.gateway ??= {
      uid: pod.metadata.uid ?? pod.metadata.name,
      namespace: pod.metadata.namespace ?? 'default',
      name: pod.metadata.name,
    };
  }

  /** network.ts: the connection reached an external host. */
  noteExternal(host: SimExternalHost, port: number): void {
    this.#trace.external ??= { host, port };
  }
}
