/**
 * The state one exec works with: a consistent snapshot of the configuration the data
 * plane sees, the mesh config read from it, the clock reading, and the state that
 * outlives execs (counters, pooled upstream connections, generated certificates).
 */
import type { ClusterView, FaultName, LogSink, SimExternalHost, SimOptions } from '../types.ts';
import { MeshCertificates } from './certs.ts';
import type { CurlConnections } from './curl-connections.ts';
import type { MeshConfig } from './mesh-config.ts';
import { ProxyStats } from './stats.ts';

/** What survives between execs of one model instance. */
export class MeshState {
  readonly stats = new ProxyStats();
  readonly certificates = new MeshCertificates();
  /** Open upstream HTTP connections (Envoy pools them), by proxy, cluster, endpoint and TLS mode. */
  readonly pools = new Map<string, number>();
  private port = 33_000;

  /** An ephemeral source port; wraps inside Linux's default ephemeral range. */
  nextPort(): number {
    this.port = this.port >= 60_999 ? 32_768 : this.port + 1;
    return this.port;
  }
}

/** Everything a piece of the model needs for one exec. */
export interface MeshContext {
  readonly view: ClusterView;
  readonly mesh: MeshConfig;
  readonly options: SimOptions;
  readonly externalHosts: readonly SimExternalHost[];
  readonly logs: LogSink;
  /** The clock reading for this exec: log timestamps and `date:` headers. */
  readonly now: Date;
  readonly state: MeshState;
  /** The running curl process's connection cache, when the transfer belongs to one (curl-connections.ts). */
  readonly connections?: CurlConnections;
  fault(name: FaultName): boolean;
}
