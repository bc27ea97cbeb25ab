/**
 * REGISTRY_ONLY (B7): a sidecar whose outbound policy is REGISTRY_ONLY blocks hosts its
 * registry does not know. The evidence is the client's own sidecar: its access-log entry
 * for the request names the catch-all it took (`block_all` with 502 for HTTP,
 * `BlackHoleCluster` for TLS), so a host that merely failed to answer does not pass.
 */
import { establish, hostAnswered } from './checks.ts';
import { describeCurlResult, type CurlResult } from './curl.ts';
import type { AccessLogEntry } from './envoy/access-log.ts';
import { DEFAULT_CLOCK_SKEW_MS, describeEntries } from './envoy/evidence.ts';
import { UNKNOWN_DESTINATION } from './facts/envoy.ts';
import type { Client, SuiteEnvironment } from './suite.ts';
import { poll } from './wait.ts';

/** One request from the client and what its own sidecar logged for it. */
interface SidecarObservation {
  url: string;
  result: CurlResult;
  /** The sidecar's entries for this request (HTTP: its unique path; TLS: SNI HOST). */
  matched: AccessLogEntry[];
  /** Everything the sidecar logged in the window, for messages. */
  window: AccessLogEntry[];
}

// Exit codes of curl that say nothing about the proxy: no name, or no answer in time.
const NOT_REACHED: ReadonlyMap<number, string> = new Map([
  [6, 'the host name did not resolve'],
  [28, 'the request timed out'],
]);

async function observe(
  env: SuiteEnvironment,
  client: Client,
  scheme: 'http' | 'https',
  label: string,
): Promise<SidecarObservation> {
  const sentAt = new Date(Date.now() - DEFAULT_CLOCK_SKEW_MS);
  const path = env.uniquePath(label);
  const url = scheme === 'http' ? `http://${env.host.name}${path}` : `https://${env.host.name}/`;
  const result = await env.curl(client, { url });
  const mine = (entry: AccessLogEntry): boolean =>
    scheme === 'http'
      ? entry.path === path
      : entry.kind === 'tcp' && entry.requestedServerName === env.host.name;
  const flush = env.run.timeouts.accessLogFlush;
  const read = await poll({
    what: `the client sidecar's access-log entry for ${url}`,
    observe: async () => {
      const window = (await env.clientProxyLog(client, sentAt)).filter(
        (entry) => entry.startTime >= sentAt,
      );
      return { window, matched: window.filter(mine) };
    },
    done: ({ matched }) => matched.length > 0,
    timeoutMs: flush,
    intervalMs: Math.min(env.run.timeouts.pollInterval, flush),
  });
  if (!read.last.ok) throw read.last.error;
  return { url, result, ...read.last.value };
}

function describe(client: Client, observation: SidecarObservation): string {
  return [
    `request ${observation.url}: ${describeCurlResult(observation.result)}`,
    `client sidecar log (${client.pod}): ${
      observation.window.length === 0
        ? 'no access-log entries at all'
        : describeEntries(observation.window, 10)
    }`,
  ].join('\n  ');
}

/** Whether an entry is the sidecar's REGISTRY_ONLY catch-all (block_all route or BlackHoleCluster). */
function blockedEntry(entry: AccessLogEntry): boolean {
  return (
    entry.upstreamCluster === UNKNOWN_DESTINATION.blackHoleCluster ||
    (entry.routeName === UNKNOWN_DESTINATION.blackHoleRoute &&
      entry.responseCode === UNKNOWN_DESTINATION.blackHoleHttpStatus)
  );
}

/**
 * B7.1/B7.2: with the Sidecar's REGISTRY_ONLY in force, a host without ServiceEntry is
 * blocked by the client's own sidecar: HTTP gets 502 from route `block_all`, TLS is reset
 * by `BlackHoleCluster`; the sidecar's log shows which.
 */
export async function unregisteredHostMustBeBlocked(
  behaviour: string,
  env: SuiteEnvironment,
  client: Client,
  { scheme, sidecar }: { scheme: 'http' | 'https'; sidecar: string },
): Promise<void> {
  const { blackHoleCluster, blackHoleRoute, blackHoleHttpStatus } = UNKNOWN_DESTINATION;
  const expectedEvidence =
    scheme === 'http'
      ? `HTTP ${blackHoleHttpStatus} with route ${blackHoleRoute} in the client's sidecar log`
      : `the connection reset, upstream cluster ${blackHoleCluster} in the client's sidecar log`;
  await establish(behaviour, env, {
    what: `${scheme.toUpperCase()} from ${client.namespace}/${client.pod} to ${env.host.name} (no ServiceEntry) to be blocked by the client's sidecar under the Sidecar ${sidecar}'s REGISTRY_ONLY policy: ${expectedEvidence}`,
    observe: () => observe(env, client, scheme, behaviour),
    check: ({ result, matched }) => {
      if (hostAnswered(env.host, result, scheme) === true) {
        return `the client's sidecar let the request through to ${env.host.name} although the host has no ServiceEntry and the Sidecar ${sidecar} sets outboundTrafficPolicy REGISTRY_ONLY: the Sidecar's outbound policy is not in force for this client`;
      }
      const notReached = NOT_REACHED.get(result.exitCode);
      if (notReached) {
        return `${notReached} (${describeCurlResult(result)}), so the client's sidecar never had the chance to block it; the host must resolve and answer from the cluster for this check`;
      }
      if (scheme === 'http' && result.exitCode === 0 && result.status !== blackHoleHttpStatus) {
        return `expected HTTP ${blackHoleHttpStatus} from the sidecar's ${blackHoleRoute} route, got ${describeCurlResult(result)}`;
      }
      if (scheme === 'https' && result.exitCode === 0) {
        return `the TLS request got an HTTP answer (${describeCurlResult(result)}) instead of a reset`;
      }
      if (matched.length === 0) {
        return `the request failed, but the client's sidecar logged nothing for it, so it cannot be shown that REGISTRY_ONLY blocked it (evidence missing: check that access logging is on for the client's proxy)`;
      }
      if (!matched.some(blockedEntry)) {
        return `the client's sidecar logged the request without its REGISTRY_ONLY catch-all (route ${blackHoleRoute} or upstream cluster ${blackHoleCluster}): ${describeEntries(matched, 3)}`;
      }
      return true;
    },
    describe: (observation) => describe(client, observation),
    hint: `the Sidecar ${sidecar} must select the client (no workloadSelector, or one matching its labels, and no older selecting Sidecar in its namespace) and set outboundTrafficPolicy.mode REGISTRY_ONLY; check "istioctl proxy-config routes ${client.pod} -n ${client.namespace} --name 80" for the ${blackHoleRoute} virtual host and "istioctl proxy-config listeners ${client.pod} -n ${client.namespace} --port 443" for a default chain to ${blackHoleCluster}; a ServiceEntry for ${env.host.name} in any namespace exported to this one would make the host known`,
  });
}

/**
 * B7's negative control: before the Sidecar exists, the same host without ServiceEntry
 * answers (the mesh's ALLOW_ANY passes it through), so B7.1–2's block is the Sidecar's doing.
 */
export async function unregisteredHostMustBeReachable(
  behaviour: string,
  env: SuiteEnvironment,
  client: Client,
): Promise<void> {
  await establish(behaviour, env, {
    what: `HTTP from ${client.namespace}/${client.pod} to ${env.host.name} (no ServiceEntry, no Sidecar resource yet) to get the host's answer through the sidecar's ${UNKNOWN_DESTINATION.passthroughRoute} route`,
    observe: () => observe(env, client, 'http', behaviour),
    check: ({ result }) => hostAnswered(env.host, result, 'http'),
    describe: (observation) => describe(client, observation),
    hint: `under the mesh's ALLOW_ANY an unknown host is passed through (${UNKNOWN_DESTINATION.passthroughCluster}); if it is blocked already, a Sidecar or the mesh config sets REGISTRY_ONLY for this namespace, and if the request failed otherwise, the host must resolve and answer from the cluster`,
  });
}
