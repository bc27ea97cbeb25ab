/**
 * Setup and stages several suites share, so that each suite file shows only what differs:
 * its behaviour, its evidence and its negative control.
 */
import type { Client, SuiteEnvironment } from '../harness/suite.ts';
import type { StageSpec } from '../harness/suite-definition.ts';
import type { Variant } from '../harness/variants.ts';

/** What the routed suites keep between steps: the client and its namespace. */
export interface RoutedState {
  namespace: string;
  client: Client;
}

/** A namespace with injection, a client in it, and the suite's ServiceEntry: the task's start. */
export async function clientWithServiceEntry({
  env,
  variant,
}: {
  env: SuiteEnvironment;
  variant: Variant;
}): Promise<RoutedState> {
  const namespace = await env.createNamespace(variant.mtls, { injection: true });
  const client = await env.deployClient(namespace);
  await env.apply(env.config('service-entry.yaml'), namespace);
  return { namespace, client };
}

/** The task's routing through the gateway (its mTLS form in the mTLS variant). */
export const GATEWAY_ROUTES: StageSpec<RoutedState> = {
  stage: 'with Gateway, DestinationRule and VirtualService applied',
  async apply({ env, state }) {
    for (const file of ['gateway.yaml', 'destination-rule.yaml', 'virtual-service.yaml']) {
      await env.apply(env.config(file, { mtls: true }), state.namespace);
    }
  },
};

/** The passthrough configuration (B3's, without mTLS) in its own namespace, as B4 and B5 use it. */
export async function passthroughConfigNamespace(env: SuiteEnvironment): Promise<string> {
  const config = await env.createNamespace('config', { injection: false });
  for (const file of [
    'service-entry.yaml',
    'gateway.yaml',
    'destination-rule.yaml',
    'virtual-service.yaml',
  ]) {
    await env.apply(env.config(file, { suite: 'passthrough' }), config);
  }
  return config;
}
