import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ConformanceFailure } from './errors.ts';
import {
  gatewayApiStatusMustHold,
  isGatewayApiGateway,
  unmetCondition,
} from './gateway-api-status.ts';
import type { Kube } from './k8s/client.ts';
import type { RunContext } from './run-context.ts';
import { DEFAULT_TIMEOUTS } from './timeouts.ts';
import type { Clock } from './wait.ts';

/** A clock that moves only when slept on: no test here really waits. */
function fakeClock(): Clock {
  let now = 0;
  return {
    now: () => now,
    sleep(ms) {
      now += ms;
      return Promise.resolve();
    },
  };
}

const condition = (type: string, status: string, reason = type, message = '') => ({
  type,
  status,
  reason,
  message,
});

const gateway = (conditions: ReturnType<typeof condition>[] | undefined): KubernetesObject => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: { name: 'http-gateway', namespace: 'egc-1' },
  ...(conditions ? { status: { conditions } } : {}),
});

const seParent = { group: 'networking.istio.io', kind: 'ServiceEntry', name: 'host' };
const gwParent = { name: 'http-gateway' };

function route(parents: { parentRef: object; conditions: object[] }[]): KubernetesObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'to-host', namespace: 'egc-1' },
    spec: { parentRefs: [seParent, gwParent] },
    status: { parents },
  } as KubernetesObject;
}

const accepted = [condition('Accepted', 'True'), condition('ResolvedRefs', 'True')];

describe('unmetCondition', () => {
  it('a Gateway must be Programmed', () => {
    expect(unmetCondition(gateway([condition('Programmed', 'True')]))).toBeUndefined();
    expect(unmetCondition(gateway(undefined))).toBe(
      'Gateway egc-1/http-gateway: condition Programmed not reported yet',
    );
    expect(
      unmetCondition(
        gateway([
          condition('Programmed', 'False', 'NoResources', 'Deployment has no ready replica'),
        ]),
      ),
    ).toBe(
      'Gateway egc-1/http-gateway: condition Programmed is False (NoResources: Deployment has no ready replica)',
    );
  });

  it('a route must be Accepted and ResolvedRefs for each of its parents, under status.parents', () => {
    expect(
      unmetCondition(
        route([
          { parentRef: seParent, conditions: accepted },
          { parentRef: gwParent, conditions: accepted },
        ]),
      ),
    ).toBeUndefined();
    // Only one parent reported: the other is named.
    expect(unmetCondition(route([{ parentRef: seParent, conditions: accepted }]))).toBe(
      'HTTPRoute egc-1/to-host for parent Gateway http-gateway: condition Accepted not reported yet',
    );
    expect(
      unmetCondition(
        route([
          { parentRef: seParent, conditions: accepted },
          {
            parentRef: gwParent,
            conditions: [
              condition('Accepted', 'True'),
              condition('ResolvedRefs', 'False', 'BackendNotFound', 'backend(host) not found'),
            ],
          },
        ]),
      ),
    ).toBe(
      'HTTPRoute egc-1/to-host for parent Gateway http-gateway: condition ResolvedRefs is False (BackendNotFound: backend(host) not found)',
    );
  });

  it('tells a Gateway API Gateway from Istio’s', () => {
    expect(isGatewayApiGateway(gateway(undefined))).toBe(true);
    expect(
      isGatewayApiGateway({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: {} }),
    ).toBe(false);
  });
});

describe('gatewayApiStatusMustHold', () => {
  /** An environment whose API returns `states` of the object in turn (the last one repeats). */
  function environment(states: KubernetesObject[]) {
    let reads = 0;
    const kube = {
      objects: {
        read: () => {
          const state = states[Math.min(reads, states.length - 1)];
          reads += 1;
          return Promise.resolve(state);
        },
      },
    } as unknown as Kube;
    const run = {
      timeouts: { ...DEFAULT_TIMEOUTS, gatewayProgrammed: 2000, pollInterval: 100 },
    } as RunContext;
    return { env: { kube, run, behaviour: 'B1' }, reads: () => reads };
  }

  it('returns once the Gateway reports Programmed, observing its status until then', async () => {
    const { env, reads } = environment([
      gateway([condition('Programmed', 'False', 'NoResources')]),
      gateway([condition('Programmed', 'True')]),
    ]);
    await gatewayApiStatusMustHold(env, [gateway(undefined)], { clock: fakeClock() });
    expect(reads()).toBe(2);
  });

  it('ignores objects that report no Gateway API status (Istio kinds, ServiceEntries)', async () => {
    const { env, reads } = environment([]);
    await gatewayApiStatusMustHold(
      env,
      [{ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'x' } }],
      { clock: fakeClock() },
    );
    expect(reads()).toBe(0);
  });

  it('fails as the behaviour of the variant, naming the condition, its message and the budget', async () => {
    const { env } = environment([
      gateway([condition('Programmed', 'False', 'NoResources', 'Deployment has no ready replica')]),
    ]);
    const failure = await gatewayApiStatusMustHold(env, [gateway(undefined)], {
      clock: fakeClock(),
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConformanceFailure);
    expect(failure).toMatchObject({
      behaviour: 'B1.status',
      observed:
        'Gateway egc-1/http-gateway: condition Programmed is False (NoResources: Deployment has no ready replica)',
      budgetMs: 2000,
    });
    expect((failure as Error).message).toMatch(
      /^\[B1\.status\] Expected Gateway egc-1\/http-gateway to report Programmed=True within 2000 ms \(gatewayProgrammed\) before the first observation, but it did not hold/,
    );
    expect((failure as Error).message).toMatch(
      /\nHint: check "kubectl describe gateway http-gateway -n egc-1"/,
    );
  });
});
