/**
 * What a cluster provider (kind, existing, simulated) hands to the suites. Everything in
 * {@link ClusterTarget} is plain JSON: the CLI records it in the reports.
 */

import type { TimeoutConfig } from '../timeouts.ts';

export type ClusterKind = 'kind' | 'existing' | 'simulated';
export const CLUSTER_KINDS: readonly ClusterKind[] = ['kind', 'existing', 'simulated'];

export type ExternalMode = 'local' | 'internet' | 'host';

/** The Istio the suites run against, as detected or installed. */
export interface IstioInstallation {
  /** Version actually running (istiod's image tag or `istioctl version`). */
  version: string;
  /** `default` or the revision name. */
  revision: string;
  /** Namespace of istiod and its mesh config (`istio-system`). */
  namespace: string;
  /** The egress gateway the suites route through. */
  gateway: {
    namespace: string;
    serviceName: string;
    /** One label that selects the gateway pods, used as the Gateway resource's selector. */
    selector: { key: string; value: string };
    serviceAccount: string;
  };
  accessLog: { enabled: boolean; encoding: 'TEXT' | 'JSON' };
  /** Whether `cluster.outbound` Envoy stats are kept (proxyStatsMatcher). */
  outboundStatsIncluded: boolean;
  outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  trustDomain: string;
}

/** What a client should see when it reaches the external host directly or via the gateway. */
export interface ExternalHost {
  /** DNS name the client requests, e.g. `http-gateway.egress-conformance.test`. */
  name: string;
  mode: ExternalMode;
  /** Proof that the answer came from this host, not from something in between. */
  expect: {
    /** For `http://name/...`: the status, and a header that only this host sets. */
    http: { status: number; header?: { name: string; value: string }; locationPrefix?: string };
    /** For `https://name/`. */
    https: { status: number; header?: { name: string; value: string } };
  };
  /** PEM of the leaf certificate this host presents (local mode: the harness made it). */
  certificatePem?: string;
  /** Its subject as curl prints it (`CN = name`), for messages. */
  certificateSubject?: string;
  /** Pass `-k`: the client does not trust this host's CA; the test compares the leaf itself. */
  insecure: boolean;
}

/** The cluster and mesh the suites run against. */
export interface ClusterTarget {
  kind: ClusterKind;
  /** True for the simulated cluster: every report says so in its header. */
  simulated: boolean;
  kubeconfigPath: string;
  context?: string;
  kubernetesVersion: string;
  kindVersion?: string;
  /** e.g. `kindnet`, or `unknown` on an existing cluster. */
  cni: string;
  istio: IstioInstallation;
  /** One external host per suite, so gateway evidence can be traced to the suite. */
  externalHosts: Record<string, ExternalHost>;
  /** The istioctl binary the provider used, for `istioctl analyze` in diagnostics. */
  istioctlPath?: string;
}

/** Reports progress of a slow step (cluster create, Istio install, namespace deletion). */
export type Progress = (step: string, state: 'start' | 'done' | 'failed', detail?: string) => void;

/** Creates or attaches to a cluster, and gives back exactly what it created. */
export interface ClusterProvider {
  readonly kind: ClusterKind;
  /**
   * Timeout defaults this kind of cluster needs instead of the general ones (flags
   * still override them): e.g. the simulated cluster writes logs synchronously.
   */
  readonly timeoutDefaults?: Partial<TimeoutConfig>;
  /** Checks tools and reachability before anything is created; throws EnvironmentError. */
  preflight(): Promise<void>;
  /** Creates or attaches, installs what is missing, and describes the result. */
  provision(options: { suites: readonly string[]; progress: Progress }): Promise<ClusterTarget>;
  /** An istioctl of `version` for upgrade runs (path and environment); absent where none can be had. */
  istioctlFor?(version: string): Promise<{ path: string; env: NodeJS.ProcessEnv }>;
  /** Deletes what provision created unless kept; safe after a partial provision and idempotent. */
  release(options: { keep: boolean; progress: Progress }): Promise<void>;
}
