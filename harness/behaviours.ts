/**
 * The behaviours of Istio's "Egress Gateways" task as reusable checks. Each one pairs
 * the client-side result with the gateway's own evidence, because a 200 alone comes
 * back just as well when traffic goes straight out.
 */
import {
  describeObservation,
  establish,
  hostAnswered,
  missingEntryReason,
  observeRequest,
  type RequestObservation,
} from './checks.ts';
import { describeCurlResult, type CurlResult } from './curl.ts';
import { describeEntries } from './envoy/evidence.ts';
import type { Client, SuiteEnvironment } from './suite.ts';
import { ConformanceFailure, EnvironmentError } from './errors.ts';
import type { ExternalHost } from './providers/types.ts';
import {
  clusterStatName,
  ENVOY_CLUSTER_STATS,
  istioClusterName,
  ISTIO_TCP_CONNECTIONS_OPENED,
} from './facts/envoy.ts';

/** Options for requests through the gateway. */
export interface GatewayRequest {
  scheme: 'http' | 'https';
  /** Expected upstream cluster at the gateway, e.g. `outbound|80||HOST`. */
  upstreamCluster: string;
  /** Expected SNI the gateway saw (TLS passthrough, or the DR's `sni` under mTLS). */
  requestedServerName?: string;
}

function hostUrl(env: SuiteEnvironment, scheme: 'http' | 'https', path: string): string {
  return `${scheme}://${env.host.name}${scheme === 'http' ? path : '/'}`;
}

/**
 * The client gets the external host's own answer AND the gateway logged this request
 * with the expected upstream cluster (B1.1–2, B3.2). HTTP is attributed by its unique
 * path; TLS (opaque to the gateway) by SNI, upstream cluster and the client's pod IP.
 */
export async function requestMustLeaveThroughGateway(
  behaviour: string,
  env: SuiteEnvironment,
  client: Client,
  request: GatewayRequest,
): Promise<RequestObservation> {
  const { scheme, upstreamCluster, requestedServerName } = request;
  const expected =
    scheme === 'http'
      ? `for this request (its unique path) with authority ${env.host.name} and upstream cluster ${upstreamCluster}`
      : `for this connection (TCP, SNI ${env.host.name}, upstream cluster ${upstreamCluster}, from client ${client.podIp})`;
  // A TCP entry carries no request id: an entry credited to one observation must not
  // also prove the next one (the window reaches back for clock skew).
  const credited = new Set<string>();
  const convergence = await establish(behaviour, env, {
    what: `${scheme.toUpperCase()} from ${client.namespace}/${client.pod} to ${env.host.name} to leave through the egress gateway`,
    observe: async () => {
      const path = env.uniquePath(behaviour);
      const before = await readUpstreamCounter(env, upstreamCluster, scheme);
      const observation = await observeRequest(env, client, {
        url: hostUrl(env, scheme, path),
        expectEntry: true,
        exclude: credited,
        match:
          scheme === 'http'
            ? { kind: 'http', path, authority: env.host.name }
            : { kind: 'tcp', requestedServerName: env.host.name, downstreamIp: client.podIp },
      });
      for (const entry of observation.matched) credited.add(entry.raw);
      if (observation.window.entries.length === 0 && before) {
        const after = await readUpstreamCounter(env, upstreamCluster, scheme);
        if (after)
          observation.counter = { name: before.name, before: before.value, after: after.value };
      }
      return observation;
    },
    check: (observation) => {
      const answered = hostAnswered(env.host, observation.result, scheme);
      if (answered !== true) return answered;
      if (observation.matched.length === 0) return missingEntryReason(observation, expected);
      const entry = observation.matched[0];
      if (entry?.upstreamCluster !== upstreamCluster) {
        return `the gateway forwarded it to upstream cluster ${entry?.upstreamCluster ?? '-'} instead of ${upstreamCluster}`;
      }
      if (requestedServerName && entry.requestedServerName !== requestedServerName) {
        return `the gateway saw SNI ${entry.requestedServerName ?? '-'} instead of ${requestedServerName}`;
      }
      return true;
    },
    describe: describeObservation,
    hint:
      scheme === 'http'
        ? env.api.hints.httpThroughGateway(env.variantContext, env.gateway)
        : env.api.hints.tlsThroughGateway(env.variantContext, env.gateway),
  });
  return convergence.last;
}

/**
 * The client gets the external host's answer and the gateway has no entry for it:
 * the negative control (no VirtualService yet) and B1.3 (443 is not redirected).
 */
export async function requestMustBypassGateway(
  behaviour: string,
  env: SuiteEnvironment,
  client: Client,
  { scheme }: { scheme: 'http' | 'https' },
): Promise<RequestObservation> {
  const convergence = await establish(behaviour, env, {
    what: `${scheme.toUpperCase()} from ${client.namespace}/${client.pod} to ${env.host.name} to get the host's answer without passing the egress gateway`,
    observe: () => {
      const path = env.uniquePath(behaviour);
      return observeRequest(env, client, {
        url: hostUrl(env, scheme, path),
        expectEntry: false,
        match:
          scheme === 'http'
            ? { kind: 'http', path }
            : { kind: 'tcp', requestedServerName: env.host.name, downstreamIp: client.podIp },
      });
    },
    check: (observation) => {
      const answered = hostAnswered(env.host, observation.result, scheme);
      if (answered !== true) return answered;
      if (observation.matched.length > 0) {
        return `the gateway logged this request although no route sends it there: ${describeEntries(observation.matched, 3)}`;
      }
      return true;
    },
    describe: describeObservation,
    hint: env.api.hints.unexpectedGatewayEntry(scheme),
  });
  return convergence.last;
}

/**
 * A client without a sidecar sending plaintext HTTP straight to the gateway's
 * ISTIO_MUTUAL port gets no answer from the external host (B2).
 */
export async function plaintextMustBeRefusedByGateway(
  behaviour: string,
  env: SuiteEnvironment,
  client: Client,
  { port }: { port: number },
): Promise<void> {
  const url = `http://${env.gateway.serviceHost}:${port}/`;
  await establish(behaviour, env, {
    what: `plaintext HTTP from ${client.namespace}/${client.pod} (no sidecar) to the gateway's port ${port} to be refused`,
    observe: () => env.curl(client, { url, headers: { Host: env.host.name } }),
    check: (result) => {
      if (hostAnswered(env.host, result, 'http') === true) {
        return `the external host answered through the gateway without mutual TLS: ${describeCurlResult(result)}`;
      }
      // Refusal must come from the gateway itself; not reaching it at all would prove nothing.
      if ([6, 7, 28].includes(result.exitCode)) {
        return `the client could not reach the gateway service at all (${describeCurlResult(result)}), so a refusal cannot be observed`;
      }
      return true;
    },
    describe: (result) =>
      `request ${url} with Host ${env.host.name}: ${describeCurlResult(result)}`,
    hint: env.api.hints.plaintextAccepted(port),
  });
}

/**
 * B3.1: TLS from the client ends at the external host, whatever path it takes: the
 * client is shown the host's own certificate (the page's `openssl s_client` step).
 */
export async function clientMustSeeHostCertificate(
  behaviour: string,
  env: SuiteEnvironment,
  client: Client,
): Promise<void> {
  const url = `https://${env.host.name}/`;
  await establish(behaviour, env, {
    what: `TLS from ${client.namespace}/${client.pod} to ${env.host.name} to end at the external host`,
    observe: () => env.curl(client, { url }),
    check: (result) => {
      const answered = hostAnswered(env.host, result, 'https');
      if (answered !== true) return answered;
      return hostCertificateProblem(env, result) ?? true;
    },
    describe: (result) => `request ${url}: ${describeCurlResult(result)}`,
    hint: env.api.hints.tlsTerminated(),
  });
}

/**
 * Passthrough means the TLS session ends at the external host: the leaf the client saw
 * must be the host's own certificate, never one issued inside the mesh.
 */
function hostCertificateProblem(env: SuiteEnvironment, result: CurlResult): string | undefined {
  const leaf = result.certificates[0];
  if (!leaf)
    return 'curl reported no server certificate, so it cannot be shown that TLS ended at the external host';
  if (env.host.certificatePem) {
    if (normalisePem(leaf.pem ?? '') !== normalisePem(env.host.certificatePem)) {
      return `TLS did not end at the external host: the client was shown a certificate with subject "${leaf.subject}" issued by "${leaf.issuer}", not the host's own (${env.host.certificateSubject ?? env.host.name}); something in the path terminated TLS`;
    }
    return undefined;
  }
  // Without the host's PEM (internet or named hosts), a chain that verified against public CAs proves it.
  if (env.host.insecure || result.sslVerifyResult !== 0) {
    return `the host's certificate chain could not be verified (ssl_verify_result ${result.sslVerifyResult ?? 'unknown'}), subject "${leaf.subject}" issuer "${leaf.issuer}"`;
  }
  return undefined;
}

function normalisePem(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

/**
 * A TLS connection offered to the gateway with another SNI is not passed to the host:
 * routing is by SNI (B3). A direct connection with the right SNI is the control that
 * shows the gateway path itself works for this client.
 */
export async function otherSniMustNotReachHost(
  behaviour: string,
  env: SuiteEnvironment,
  client: Client,
): Promise<void> {
  const gatewayAddress = env.gateway.serviceHost;
  const otherName = `other-sni.${env.host.name}`;
  await establish(behaviour, env, {
    what: `the gateway to pass TLS for SNI ${env.host.name} to the host but not TLS for SNI ${otherName}`,
    observe: async () => ({
      right: await env.curl(client, {
        url: `https://${env.host.name}/`,
        connectTo: [`${env.host.name}:443:${gatewayAddress}:443`],
      }),
      // Without -k, a real host's certificate never verifies for this name, so the request
      // would fail whether or not the gateway routed it; with -k its handshake completes
      // exactly when something behind the gateway answered.
      wrong: await env.curl(client, {
        url: `https://${otherName}/`,
        connectTo: [`${otherName}:443:${gatewayAddress}:443`],
        insecure: true,
      }),
    }),
    check: ({ right, wrong }) => otherSniVerdict(env.host, right, wrong, otherName),
    describe: ({ right, wrong }) =>
      `SNI ${env.host.name} via gateway: ${describeCurlResult(right)}; SNI ${otherName} via gateway (-k): ${describeCurlResult(wrong)}`,
    hint: env.api.hints.otherSniRouted(env.variantContext, env.gateway),
  });
}

/**
 * B3.3's verdict on one pair of requests through the gateway: the right SNI must reach the
 * host (the control), and the other SNI (sent with -k) must not be answered by the host,
 * told by the host's identifying header (local hosts) or by the same leaf certificate the
 * right request was shown (any host). Decidable in every external-host mode.
 */
export function otherSniVerdict(
  host: ExternalHost,
  right: CurlResult,
  wrong: CurlResult,
  otherName: string,
): true | string {
  const control = hostAnswered(host, right, 'https');
  if (control !== true) {
    return `control failed: TLS with SNI ${host.name} sent straight to the gateway did not reach the host (${control}), so the SNI check proves nothing`;
  }
  const routed = `the gateway routed TLS with SNI ${otherName} to ${host.name}: it routes regardless of SNI`;
  if (wrong.headers['x-egress-conformance-host'] === host.name) {
    return `${routed} (the host's identifying header came back: ${describeCurlResult(wrong)})`;
  }
  const rightLeaf = right.certificates[0];
  const wrongLeaf = wrong.certificates[0];
  if (!rightLeaf) {
    return `the control request through the gateway showed no certificate, so the other SNI's answer cannot be compared with the host's`;
  }
  // The PEM when curl printed it (%{certs} does); subject and issuer otherwise.
  const sameLeaf =
    wrongLeaf !== undefined &&
    (rightLeaf.pem && wrongLeaf.pem
      ? normalisePem(rightLeaf.pem) === normalisePem(wrongLeaf.pem)
      : rightLeaf.subject === wrongLeaf.subject && rightLeaf.issuer === wrongLeaf.issuer);
  if (sameLeaf) {
    return `${routed} (it was shown the host's own certificate, subject "${wrongLeaf.subject}": ${describeCurlResult(wrong)})`;
  }
  return true;
}

/**
 * Baseline of B4: a client without sidecar reaches the host directly. If it cannot, the
 * cluster has no egress at all, which is an environment problem, not the mesh's.
 */
export async function clusterMustHaveEgress(env: SuiteEnvironment, client: Client): Promise<void> {
  const url = `https://${env.host.name}/`;
  try {
    await establish('B4.1', env, {
      what: `a client without sidecar (${client.namespace}/${client.pod}) to reach ${url} directly`,
      observe: () => env.curl(client, { url }),
      check: (result) => hostAnswered(env.host, result, 'https'),
      describe: (result) => `request ${url}: ${describeCurlResult(result)}`,
      hint: 'the cluster must be able to reach the external host at all before egress control can be tested',
    });
  } catch (error) {
    // An API server that stopped answering says so itself.
    if (error instanceof EnvironmentError) throw error;
    throw new EnvironmentError(
      `The cluster cannot reach the external host ${env.host.name} even without Istio in the path (${error instanceof ConformanceFailure ? `after ${error.observations} observations in ${error.elapsedMs} ms: ${error.reason}` : error instanceof Error ? error.message : String(error)}); give the cluster egress to that host (or pick another with --external) and rerun.`,
      { cause: error },
    );
  }
}

/**
 * B4 step 4: with the NetworkPolicy applied, a fresh client without sidecar can no
 * longer reach the host, consistently. On kind, policies reach new pods with a delay.
 */
export async function bareClientMustBeBlocked(
  behaviour: string,
  env: SuiteEnvironment,
  client: Client,
): Promise<void> {
  const url = `https://${env.host.name}/`;
  await establish(behaviour, env, {
    what: `the NetworkPolicy to block ${client.namespace}/${client.pod} (no sidecar) from reaching ${url}`,
    observe: () => env.curl(client, { url }),
    check: (result) =>
      hostAnswered(env.host, result, 'https') === true
        ? `the pod without sidecar still reached the host directly: ${describeCurlResult(result)}`
        : true,
    describe: (result) => `request ${url}: ${describeCurlResult(result)}`,
    timeoutMs: env.run.timeouts.policyEnforcement,
    hint: "the cluster's CNI does not appear to enforce NetworkPolicy (the most common cause: kind before v0.24 or with disableDefaultCNI, flannel, or a CNI without policy support); on kind use v0.24+ with its default CNI (kindnet), elsewhere Calico or Cilium",
  });
}

/** The client gets the external host's own answer (no claim about the path). */
export async function clientMustReachHost(
  behaviour: string,
  env: SuiteEnvironment,
  client: Client,
  { scheme, why }: { scheme: 'http' | 'https'; why: string },
): Promise<void> {
  const url = `${scheme}://${env.host.name}/`;
  await establish(behaviour, env, {
    what: `${client.namespace}/${client.pod} to get ${env.host.name}'s answer (${why})`,
    observe: () => env.curl(client, { url }),
    check: (result) => hostAnswered(env.host, result, scheme),
    describe: (result) => `request ${url}: ${describeCurlResult(result)}`,
    hint: why,
  });
}

/**
 * B5.1: the client does not get the host's answer through the gateway, because the
 * subset's DestinationRule is outside its lookup path (typically 503 NR / a reset).
 */
export async function requestMustNotReachHostThroughGateway(
  behaviour: string,
  env: SuiteEnvironment,
  client: Client,
  { drNamespace }: { drNamespace: string },
): Promise<void> {
  await establish(behaviour, env, {
    what: `TLS from ${client.namespace}/${client.pod} to ${env.host.name} NOT to reach the host through the gateway while the DestinationRule is only in ${drNamespace}`,
    observe: () =>
      observeRequest(env, client, {
        url: `https://${env.host.name}/`,
        expectEntry: false,
        match: { kind: 'tcp', requestedServerName: env.host.name, downstreamIp: client.podIp },
      }),
    check: (observation) =>
      hostAnswered(env.host, observation.result, 'https') === true && observation.matched.length > 0
        ? `the client reached the host through the gateway although the subset's DestinationRule is only in ${drNamespace}, outside its lookup path (${client.namespace}, the gateway's namespace, the root namespace): DestinationRules are being applied from any namespace`
        : true,
    describe: describeObservation,
    hint: 'Istio looks DestinationRules up in the client namespace, then the destination service namespace, then the root namespace (istio/istio #30730)',
  });
}

/**
 * B4 step 6: the gateway's Envoy counter for the upstream cluster increases across
 * requests (read before and after, never against a constant). Falls back to Istio's
 * standard metrics when the stats matcher hides `cluster.outbound` counters.
 */
export async function gatewayCounterMustIncrease(
  behaviour: string,
  env: SuiteEnvironment,
  client: Client,
  { skip }: { skip: (note: string) => never },
): Promise<{ source: string; before: number; after: number }> {
  const cluster = istioClusterName(443, env.host.name);
  const statName = clusterStatName(cluster, ENVOY_CLUSTER_STATS.connections);
  const metricName = ISTIO_TCP_CONNECTIONS_OPENED;
  const read = async (): Promise<{ source: string; value: number } | undefined> => {
    const stats = await env.gatewayStats();
    const stat = stats.get(statName);
    if (stat !== undefined) return { source: `Envoy stat ${statName}`, value: stat };
    const samples = (await env.gatewayMetrics()).filter(
      (sample) =>
        sample.name === metricName &&
        sample.labels.reporter === 'source' &&
        (sample.labels.destination_service_name === env.host.name ||
          sample.labels.destination_service === env.host.name),
    );
    if (samples.length > 0) {
      return {
        source: `Istio metric ${metricName}{reporter="source",destination_service_name="${env.host.name}"}`,
        value: samples.reduce((sum, sample) => sum + sample.value, 0),
      };
    }
    return undefined;
  };
  const before = (await read()) ?? { source: 'none yet', value: 0 };
  const url = `https://${env.host.name}/`;
  let sent = 0;
  let exposed = true;
  const convergence = await establish(behaviour, env, {
    what: `the gateway's connection counter for ${cluster} to increase after requests from ${client.namespace}/${client.pod}`,
    observe: async () => {
      const result = await env.curl(client, { url });
      sent += 1;
      const counter = await read();
      exposed = counter !== undefined;
      return { result, counter };
    },
    check: ({ counter }) => {
      if (!counter) return `neither ${statName} nor ${metricName} is exposed by the gateway`;
      if (counter.value <= before.value) {
        return `${counter.source} stayed at ${counter.value} (before: ${before.value}) after ${sent} requests`;
      }
      return true;
    },
    describe: ({ result, counter }) =>
      `request ${url}: ${describeCurlResult(result)}; counter: ${counter ? `${counter.source} = ${counter.value}` : 'not exposed'} (before: ${before.value})`,
    hint: `read the counters with "pilot-agent request GET stats" in the gateway's istio-proxy; if they never move while requests succeed, the gateway's stats are broken or the traffic does not pass the gateway`,
  }).catch((error: unknown) => {
    if (error instanceof ConformanceFailure && !exposed) {
      skip(
        `The gateway exposes neither ${statName} nor ${metricName}, so the counter cannot be read. Fix: add "cluster.outbound" to meshConfig.defaultConfig.proxyStatsMatcher.inclusionPrefixes (or the proxy.istio.io/config annotation on the gateway) and rerun.`,
      );
    }
    throw error;
  });
  const last = convergence.last.counter;
  return {
    source: last?.source ?? 'unknown',
    before: before.value,
    after: last?.value ?? before.value,
  };
}

/**
 * The gateway's request (HTTP) or connection (TCP) counter for an upstream cluster, or
 * undefined when the stats matcher hides it or the read fails: it only sharpens messages.
 */
async function readUpstreamCounter(
  env: SuiteEnvironment,
  upstreamCluster: string,
  scheme: 'http' | 'https',
): Promise<{ name: string; value: number } | undefined> {
  // Envoy pools upstream HTTP connections, so for HTTP only the request counter moves per request.
  const name = clusterStatName(
    upstreamCluster,
    scheme === 'http' ? ENVOY_CLUSTER_STATS.requests : ENVOY_CLUSTER_STATS.connections,
  );
  try {
    const value = (await env.gatewayStats()).get(name);
    return value === undefined ? undefined : { name, value };
  } catch {
    return undefined;
  }
}
