import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  apiFlagProblem,
  missingGatewayApiKinds,
  parseApiFlag,
  runnableApis,
} from './api-selection.ts';
import { EnvironmentError } from './errors.ts';
import type { Kube } from './k8s/client.ts';
import { GATEWAY_API_VERSION } from './versions.ts';

/** A cluster whose API answers a list of `kind` with `answer(kind)`: items, or a thrown error. */
function cluster(answer: (kind: string) => Error | undefined): { kube: Kube; listed: string[] } {
  const listed: string[] = [];
  const kube = {
    objects: {
      list: (_apiVersion: string, kind: string) => {
        listed.push(kind);
        const error = answer(kind);
        return error ? Promise.reject(error) : Promise.resolve({ items: [] });
      },
    },
  } as unknown as Kube;
  return { kube, listed };
}

const notFound = () =>
  new ApiException(404, 'Not Found', { kind: 'Status', reason: 'NotFound' }, {});

describe('--api', () => {
  it('takes one API or both', () => {
    expect(parseApiFlag('both')).toEqual(['istio-api', 'gateway-api']);
    expect(parseApiFlag('istio-api')).toEqual(['istio-api']);
    expect(parseApiFlag('gateway-api')).toEqual(['gateway-api']);
    expect(parseApiFlag('gateway')).toBeUndefined();
    expect(apiFlagProblem('gateway')).toBe(
      'unknown --api "gateway"; valid values: istio-api, gateway-api, both',
    );
  });
});

describe('which APIs the cluster can run', () => {
  it('runs both where every Gateway API kind the suites apply is served', async () => {
    const { kube, listed } = cluster(() => undefined);
    expect(await runnableApis(kube, ['istio-api', 'gateway-api'])).toEqual({
      apis: ['istio-api', 'gateway-api'],
      skipped: [],
    });
    expect(listed).toEqual(['Gateway', 'HTTPRoute', 'TLSRoute']);
  });

  it('does not ask the cluster when the Gateway API is not selected', async () => {
    const { kube, listed } = cluster(() => undefined);
    expect(await runnableApis(kube, ['istio-api'])).toEqual({ apis: ['istio-api'], skipped: [] });
    expect(listed).toEqual([]);
  });

  it('skips the Gateway API naming the kinds not served (404 or absent from discovery) and the install command', async () => {
    const { kube } = cluster((kind) =>
      kind === 'TLSRoute'
        ? new Error('Unrecognized API version and kind: gateway.networking.k8s.io/v1 TLSRoute')
        : kind === 'HTTPRoute'
          ? notFound()
          : undefined,
    );
    expect(await runnableApis(kube, ['istio-api', 'gateway-api'])).toEqual({
      apis: ['istio-api'],
      skipped: [
        {
          api: 'gateway-api',
          reason: `the cluster does not serve HTTPRoute (gateway.networking.k8s.io/v1), TLSRoute (gateway.networking.k8s.io/v1): install the Gateway API CRDs (kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/${GATEWAY_API_VERSION}/standard-install.yaml)`,
        },
      ],
    });
  });

  it('an error other than "not served" is an environment error, not a skip', async () => {
    const { kube } = cluster(
      () => new ApiException(403, 'Forbidden', { kind: 'Status', reason: 'Forbidden' }, {}),
    );
    const failure = await missingGatewayApiKinds(kube).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EnvironmentError);
    expect((failure as Error).message).toMatch(
      /^Cannot tell whether the cluster serves the Gateway API: listing Gateway \(gateway\.networking\.k8s\.io\/v1\) failed \(HTTP 403 Forbidden/,
    );
  });
});
