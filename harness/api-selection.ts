/**
 * `--api istio-api|gateway-api|both`: which configuration APIs a run certifies, and whether the
 * cluster can run the Gateway API form at all (its CRDs installed). Kept out of cli.ts so the
 * flag's rules read in one place.
 */
import { EnvironmentError } from './errors.ts';
import { GATEWAY_API_RELEASE, GATEWAY_API_VERSIONS } from './facts/gateway-api.ts';
import { connect, errorText, isNotFound, type Kube } from './k8s/client.ts';
import type { ClusterTarget } from './providers/types.ts';
import type { ApiName, SkippedApi } from './variants.ts';
import { GATEWAY_API_VERSION } from './versions.ts';

export { apiFlagProblem, parseApiFlag } from './variants.ts';

/**
 * The Gateway API kinds the cluster does not serve (empty when every CRD the suites use is
 * there). Not served: the API server answers 404 for the group version, or its discovery lacks
 * the kind. Any other error (unreachable, forbidden) is an environment error, not a reason to skip.
 */
export async function missingGatewayApiKinds(kube: Kube): Promise<string[]> {
  const missing: string[] = [];
  for (const [kind, apiVersion] of Object.entries(GATEWAY_API_VERSIONS)) {
    if (kind === 'GatewayClass') continue;
    try {
      await kube.objects.list(
        apiVersion,
        kind,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        undefined,
        1,
      );
    } catch (error) {
      const notServed =
        isNotFound(error) ||
        (error instanceof Error && error.message.startsWith('Unrecognized API version and kind'));
      if (!notServed) {
        throw new EnvironmentError(
          `Cannot tell whether the cluster serves the Gateway API: listing ${kind} (${apiVersion}) failed (${errorText(error)}); check the kubeconfig's access, or pass --api istio-api.`,
          { cause: error },
        );
      }
      missing.push(`${kind} (${apiVersion})`);
    }
  }
  return missing;
}

/**
 * The APIs a run selects that the cluster can run, and for each one it cannot, why (reported
 * as skipped). Only the Gateway API depends on the cluster: its CRDs may be absent on an
 * existing cluster (the kind path installs them; the simulated cluster starts with them).
 */
export async function runnableApis(
  kube: Kube,
  requested: readonly ApiName[],
): Promise<{ apis: ApiName[]; skipped: SkippedApi[] }> {
  if (!requested.includes('gateway-api')) return { apis: [...requested], skipped: [] };
  const missing = await missingGatewayApiKinds(kube);
  if (missing.length === 0) return { apis: [...requested], skipped: [] };
  return {
    apis: requested.filter((api) => api !== 'gateway-api'),
    skipped: [
      {
        api: 'gateway-api',
        reason: `the cluster does not serve ${missing.join(', ')}: install the Gateway API CRDs (kubectl apply --server-side -f ${GATEWAY_API_RELEASE.installUrl(GATEWAY_API_VERSION)})`,
      },
    ],
  };
}

/**
 * The APIs the run certifies on `target` and those it skips, saying why; an environment
 * error when the cluster can run none of the requested ones (nothing would be certified).
 */
export async function selectApis(
  target: ClusterTarget,
  requested: readonly ApiName[],
  say: (line: string) => void,
): Promise<{ apis: ApiName[]; skipped: SkippedApi[] }> {
  const kube = connect({
    kubeconfigPath: target.kubeconfigPath,
    ...(target.context ? { context: target.context } : {}),
  });
  const { apis, skipped } = await runnableApis(kube, requested);
  if (apis.length === 0) {
    throw new EnvironmentError(
      `--api ${requested.join(',')} cannot run on this cluster: ${skipped.map(({ reason }) => reason).join('; ')}.`,
    );
  }
  for (const { api, reason } of skipped)
    say(`skipped: the ${api} variant of every suite: ${reason}`);
  return { apis, skipped };
}
