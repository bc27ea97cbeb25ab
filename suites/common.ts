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
  // A Gateway API Gateway brings its own gateway: it exists before the routes (the page's order),
  // so the negative control reads a gateway that has no route yet.
  if (env.api.deploysGateway)
    await env.apply(env.config('gateway.yaml', { mtls: true }), namespace);
  return { namespace, client };
}

/** The task's routing through the gateway (its mTLS form in the mTLS variant). */
export const GATEWAY_ROUTES: StageSpec<RoutedState> = {
  stage: 'with the gateway and its routes applied',
  async apply({ env, state }) {
    for (const file of routeFiles(env)) {
      await env.apply(env.config(file, { mtls: true }), state.namespace);
    }
  },
};

/**
 * The API's routing files; a DestinationRule only where the variant needs one (the Gateway
 * API form has it only with mutual TLS, on the gateway's Service).
 */
function routeFiles(env: SuiteEnvironment, mtls = env.variant.mtls === 'enabled'): string[] {
  return env.api.routeFiles.filter(
    (file) => file !== 'destination-rule.yaml' || mtls || env.api.clientNeedsDestinationRule,
  );
}

/** The passthrough configuration (B3's, without mTLS) in its own namespace, as B4 and B5 use it. */
export async function passthroughConfigNamespace(env: SuiteEnvironment): Promise<string> {
  const config = await env.createNamespace('config', { injection: false });
  for (const file of ['service-entry.yaml', ...routeFiles(env, false)]) {
    await env.apply(env.config(file, { suite: 'passthrough' }), config);
  }
  return config;
}
