/**
 * Contracts between the parts of the simulated cluster: the object store behind the
 * Kubernetes API server, the mesh model that answers `exec`, and the external world.
 * The product's code never imports this folder except through the `simulated` provider.
 */
import type { CurlConnections } from './mesh/curl-connections.ts';
import type { ProfileName } from './profiles.ts';

/** A stored Kubernetes object, as JSON, with the metadata the store fills in. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: {
      apiVersion: string;
      kind: string;
      name: string;
      uid: string;
      controller?: boolean;
    }[];
    managedFields?: unknown[];
    [key: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
  [key: string]: unknown;
}

/**
 * A read-only view of the configuration as the data plane currently sees it. The mesh
 * model reads config through this, never the live store, so that the propagation delay
 * (`EGRESS_SIM_PROPAGATION_MS`, xDS pushes) is respected: an object applied a moment
 * ago may not be visible yet, a deleted one may still be.
 */
export interface ClusterView {
  /** Objects of one kind (e.g. `VirtualService`), optionally in one namespace. */
  list(kind: string, namespace?: string): KubeObject[];
  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
}

/** One command run in a container through `pods/exec`. */
export interface ExecRequest {
  namespace: string;
  pod: KubeObject;
  container: string;
  command: string[];
  /** Aborted when the exec stream is closed by the client. */
  signal?: AbortSignal;
  /**
   * The connection cache of a curl process that outlives this one transfer (a curl loop's,
   * simulator/processes.ts); absent: each exec is a new curl process.
   */
  connections?: CurlConnections;
}

/** What a real process would have printed and returned. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Where a proxy writes: the mesh model appends access-log lines to a container's log. */
export interface LogSink {
  append(namespace: string, pod: string, container: string, line: string, at?: Date): void;
}

/**
 * The mesh model: computes what real Istio, Envoy, curl and the external hosts would
 * do for an exec, from the objects visible in `view()`.
 */
export interface ExecHandler {
  exec(request: ExecRequest): Promise<ExecResult>;
}

/** An external host the simulated world contains (see spec "The external world"). */
export interface SimExternalHost {
  name: string;
  mode: 'local' | 'internet';
  /** PEM of the leaf certificate the host presents on 443 (local mode). */
  certificatePem?: string;
  /** PEM of the CA that issued it. */
  caPem?: string;
  /** Subject and issuer common names, as curl's %{certs} would print them. */
  subjectCN: string;
  issuerCN: string;
  /** Address the host "resolves" to, used in access logs as UPSTREAM_HOST. */
  address: string;
}

/** Names of the faults in `spec/simulated-cluster.md`. */
export const FAULT_NAMES = [
  'gateway-bypass',
  'no-gateway-log',
  'wrong-upstream',
  'tls-terminated',
  'sni-ignored',
  'plaintext-accepted',
  'netpol-not-enforced',
  'counters-frozen',
  'dr-lookup-ignored',
  'slow-propagation',
  'upgrade-drops-traffic',
  'skew-breaks-old-proxies',
  'gateway-not-programmed',
  'hostname-backend-ignored',
  'registry-only-ignored',
  'wrong-gateway-identity',
] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

/**
 * Faults of the API server itself (simulator/api/faults.ts): they break the transport the
 * harness talks over, not the mesh, so they are not part of the mesh's fault matrix.
 */
export const API_FAULT_NAMES = ['api-flaky', 'api-down'] as const;
export type ApiFaultName = (typeof API_FAULT_NAMES)[number];

/** How the API server's faults behave (`EGRESS_SIM_API_*`). */
export interface ApiFaultOptions {
  /** `api-flaky`: this share of requests (0..1) fails transiently, picked by a seeded generator. */
  flaky?: { rate: number; seed: number };
  /** `api-down`: no answers after this many requests, or this long after the server started. */
  down?: { afterRequests?: number; afterMs?: number };
}

/** Knobs of the simulated cluster, read from the environment once at start. */
export interface SimOptions {
  faults: ReadonlySet<FaultName>;
  /** The API server's faults; absent: it answers every request. */
  apiFaults?: ApiFaultOptions;
  /** `EGRESS_SIM_PROFILE`: the real cluster shapes to start as (simulator/profiles.ts); none: the pinned one. */
  profiles?: readonly ProfileName[];
  /** Delay before a config change is visible to the data plane, in ms. */
  propagationMs: number;
  /** Random extra delay, 0..jitterMs, per change. */
  propagationJitterMs: number;
  /** Delay before a new pod becomes Ready, in ms. */
  podStartMs: number;
  /**
   * `EGRESS_SIM_TERMINATION_DRAIN_MS`: how long a deleted gateway pod's Envoy keeps the
   * connections it carries; absent: Istio's default (GATEWAY_TERMINATION_DRAIN).
   */
  terminationDrainMs?: number;
  externalHosts: SimExternalHost[];
}
