/**
 * `--api istio-api|gateway-api|both`: which configuration APIs a run certifies, and whether the
 * cluster can run the Gateway API form at all (its CRDs installed). Kept out of cli.ts so the
 * flag's rules read in one place.
 */
import { GATEWAY_API_VERSIONS } from './facts/gateway-api.ts';
import { connect, type Kube } from './k8s/client.ts';
import type { ClusterTarget } from './providers/types.ts';
import { API_NAMES, type ApiName } from './variants.ts';

/** Parses the `--api` value; undefined when it is not one of the choices. */
export function parseApiFlag(value: string): ApiName[] | undefined {
  if (value === 'both') return [...API_NAMES];
  return (API_NAMES as readonly string[]).includes(value) ? [value as ApiName] : undefined;
}

/** The usage error text for a bad `--api`. */
export function apiFlagProblem(value: string): string {
  return `unknown --api "${value}"; valid values: ${API_NAMES.join(', ')}, both`;
}

/** The Gateway API kinds the cluster does not serve (empty when every CRD the suites use is there). */
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
    } catch {
      missing.push(`${kind} (${apiVersion})`);
    }
  }
  return missing;
}

/**
 * The APIs a run selects that the cluster can run, and for each one it cannot, why (reported
 * as skipped). Only the Gateway API depends on the cluster: its CRDs may be absent on an
 * existing cluster (kind and the simulated cluster have them).
 */
export async function runnableApis(
  kube: Kube,
  requested: readonly ApiName[],
): Promise<{ apis: ApiName[]; skipped: { api: ApiName; reason: string }[] }> {
  if (!requested.includes('gateway-api')) return { apis: [...requested], skipped: [] };
  const missing = await missingGatewayApiKinds(kube);
  if (missing.length === 0) return { apis: [...requested], skipped: [] };
  return {
    apis: requested.filter((api) => api !== 'gateway-api'),
    skipped: [
      {
        api: 'gateway-api',
        reason: `the cluster does not serve ${missing.join(', ')}: install the Gateway API CRDs (kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/<version>/standard-install.yaml)`,
      },
    ],
  };
}

/** The APIs the run certifies on `target`, saying why one requested is skipped. */
export async function selectApis(
  target: ClusterTarget,
  requested: readonly ApiName[],
  say: (line: string) => void,
): Promise<ApiName[]> {
  const kube = connect({
    kubeconfigPath: target.kubeconfigPath,
    ...(target.context ? { context: target.context } : {}),
  });
  const { apis, skipped } = await runnableApis(kube, requested);
  for (const { api, reason } of skipped)
    say(`skipped: the ${api} variant of every suite: ${reason}`);
  return apis;
}
