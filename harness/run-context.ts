/** What the CLI hands to the suites it runs: plain JSON, also recorded in the reports. */
import type { ClusterTarget } from './providers/types.ts';
import type { TimeoutConfig } from './timeouts.ts';
import type { ApiName, MtlsMode, SkippedApi } from './variants.ts';

export { MTLS_MODES, type MtlsMode } from './variants.ts';

/** Everything a suite needs to know about the run. */
export interface RunContext {
  /** Short unique id: in namespace names and in the run label on everything created. */
  runId: string;
  target: ClusterTarget;
  /** The variants to run: `--mtls disabled|enabled|both`. */
  mtlsModes: MtlsMode[];
  /** The configuration APIs to run each suite in (`--api`, less those the cluster cannot run). */
  apis: ApiName[];
  /** APIs `--api` selected that the cluster cannot run: their cases are reported as skipped with the reason. */
  skippedApis?: SkippedApi[];
  timeouts: TimeoutConfig;
  /** Consecutive agreeing observations a convergence needs. */
  requiredObservations: number;
  clientImage: string;
  /** Keep the namespaces of failed tests for debugging. */
  keepOnFailure: boolean;
  /** Absolute path of the reports folder (diagnostics go below it). */
  reportsDir: string;
  /** Absolute path of the manifests the suites apply (`--manifests`, default: the bundled ones). */
  manifestsDir: string;
  /** The istioctl binary the provider resolved, for `istioctl analyze` in diagnostics. */
  istioctlPath?: string;
}
