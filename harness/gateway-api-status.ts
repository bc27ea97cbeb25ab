/**
 * Waits on the status the Gateway API reports instead of on time (istio.io's own test of
 * the page sleeps 30 s): a Gateway `Programmed=True`, each route `Accepted=True` and
 * `ResolvedRefs=True` for each of its parents (conditions under `status.parents[]`). A
 * timeout names the object, the condition and its last message.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { GATEWAY_API_CONDITIONS, GATEWAY_API_RELEASE } from './facts/gateway-api.ts';
import { ConformanceFailure } from './errors.ts';
import { errorText } from './k8s/client.ts';
import { readObject } from './k8s/objects.ts';
import type { SuiteEnvironment } from './suite.ts';
import { poll, type Clock } from './wait.ts';

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

type WithStatus = KubernetesObject & {
  status?: {
    conditions?: Condition[];
    parents?: { parentRef?: { kind?: string; name?: string }; conditions?: Condition[] }[];
  };
  spec?: { parentRefs?: { kind?: string; name?: string }[] };
};

function inGroup(object: KubernetesObject): boolean {
  return (object.apiVersion ?? '').startsWith(`${GATEWAY_API_RELEASE.group}/`);
}

/** Whether the object is a Gateway API Gateway (whose namespace then hosts the gateway under test). */
export function isGatewayApiGateway(object: KubernetesObject): boolean {
  return inGroup(object) && object.kind === 'Gateway';
}

/** The first required condition that does not hold, as "<subject> <type> is <status> (<reason>: <message>)". */
export function unmetCondition(object: WithStatus): string | undefined {
  const name = `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
  const check = (
    subject: string,
    conditions: Condition[] | undefined,
    types: readonly string[],
  ) => {
    for (const type of types) {
      const found = conditions?.find((condition) => condition.type === type);
      if (found?.status !== 'True') {
        return found
          ? `${subject}: condition ${type} is ${found.status ?? '?'} (${found.reason ?? '-'}: ${found.message ?? ''})`
          : `${subject}: condition ${type} not reported yet`;
      }
    }
    return undefined;
  };
  if (isGatewayApiGateway(object)) {
    return check(name, object.status?.conditions, ['Programmed']);
  }
  for (const parent of object.spec?.parentRefs ?? []) {
    const status = object.status?.parents?.find(
      (entry) =>
        entry.parentRef?.name === parent.name &&
        (entry.parentRef?.kind ?? 'Gateway') === (parent.kind ?? 'Gateway'),
    );
    const subject = `${name} for parent ${parent.kind ?? 'Gateway'} ${parent.name ?? ''}`;
    const problem = check(subject, status?.conditions, GATEWAY_API_CONDITIONS.route);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * Waits until every Gateway API object among `applied` reports its conditions as True.
 * Budget: `gatewayProgrammed` (a Gateway is Programmed once the deployment Istio made for it is
 * ready). A timeout is a conformance failure of the variant's behaviour (`[B1.status]`): Istio
 * did not take the configuration the page gives, and every case of the variant is red with it.
 */
export async function gatewayApiStatusMustHold(
  env: Pick<SuiteEnvironment, 'kube' | 'run' | 'behaviour'>,
  applied: readonly KubernetesObject[],
  { clock }: { clock?: Clock } = {},
): Promise<void> {
  const watched = applied.filter(
    (object) =>
      inGroup(object) &&
      (object.kind === 'Gateway' || object.kind === 'HTTPRoute' || object.kind === 'TLSRoute'),
  );
  for (const object of watched) {
    const ref = {
      apiVersion: object.apiVersion ?? '',
      kind: object.kind ?? '',
      metadata: { name: object.metadata?.name ?? '', namespace: object.metadata?.namespace ?? '' },
    };
    const subject = `${ref.kind} ${ref.metadata.namespace}/${ref.metadata.name}`;
    const budgetMs = env.run.timeouts.gatewayProgrammed;
    const outcome = await poll({
      what: `${subject} to report its conditions True`,
      timeoutMs: budgetMs,
      intervalMs: env.run.timeouts.pollInterval,
      ...(clock ? { clock } : {}),
      observe: async () => {
        const current = await readObject<WithStatus>(env.kube, ref);
        return current ? (unmetCondition(current) ?? OK) : `${subject} is gone`;
      },
      done: (observation) => observation === OK,
    });
    if (outcome.done) continue;
    const last = outcome.last;
    throw new ConformanceFailure({
      behaviour: `${env.behaviour ?? 'setup'}.status`,
      expected: `${subject} to report ${
        ref.kind === 'Gateway'
          ? 'Programmed=True'
          : 'Accepted=True and ResolvedRefs=True for each parent'
      } within ${budgetMs} ms (gatewayProgrammed) before the first observation`,
      reason: 'the status the Gateway API reports did not say so',
      observed: last.ok ? last.value : `reading it failed: ${errorText(last.error)}`,
      hint:
        ref.kind === 'Gateway'
          ? `check "kubectl describe gateway ${ref.metadata.name} -n ${ref.metadata.namespace}" and the Deployment ${ref.metadata.name}-istio Istio creates for it (istiod's log names why it is not programmed)`
          : `check "kubectl get ${ref.kind.toLowerCase()} ${ref.metadata.name} -n ${ref.metadata.namespace} -o yaml": status.parents[] names the parent and backend at fault`,
      observations: outcome.observations,
      elapsedMs: outcome.elapsedMs,
      budgetMs,
    });
  }
}

const OK = 'ok';
