/**
 * `pilot-agent request <METHOD> <path>` in an `istio-proxy` container: Envoy's admin
 * endpoints the suites and failure dumps read (`stats`, `stats/prometheus`,
 * `config_dump`, `clusters`, `listeners`, `server_info`, `ready`), answered from the
 * proxy's counters and the configuration derived from the view.
 */
import { ISTIO_DEFAULT_VERSION } from '../../harness/versions.ts';
import type { ExecResult, KubeObject } from '../types.ts';
import type { PresentedCert } from './certs.ts';
import type { MeshContext } from './context.ts';
import { containerNamed, imageTag, isGatewayPod, namespaceOf, podIp, record, text } from './k8s.ts';
import { proxyStatsMatcher } from './mesh-config.ts';
import type { ClusterConfig, ProxyConfig } from './proxy-config.ts';
import { proxyConfig, transportSocket } from './proxy-config.ts';
import { CLUSTER_STATS, renderPrometheus, renderStatsText } from './stats.ts';
import { proxyKey } from './telemetry.ts';
import { formatAddress } from './wire.ts';
import { workloadIdentity } from './workload-identity.ts';

const ENVOY_VERSION = '1.36.2';

function istioVersion(pod: KubeObject): string {
  const tag = imageTag(containerNamed(pod, 'istio-proxy'));
  return tag && /^\d+\.\d+/.test(tag) ? tag.replace(/-distroless$/, '') : ISTIO_DEFAULT_VERSION;
}

function uptimeSeconds(ctx: MeshContext, pod: KubeObject): number {
  const started = text(record(pod.status).startTime) ?? pod.metadata.creationTimestamp;
  const since = started ? Date.parse(started) : NaN;
  return Number.isFinite(since) ? Math.max(0, Math.floor((ctx.now.getTime() - since) / 1000)) : 0;
}

function nodeId(pod: KubeObject): string {
  const type = isGatewayPod(pod) ? 'router' : 'sidecar';
  const namespace = namespaceOf(pod);
  return `${type}~${podIp(pod)}~${pod.metadata.name}.${namespace}~${namespace}.svc.cluster.local`;
}

/** Every stat of the proxy with its value: always-on ones, per configured cluster, and what was counted. */
function statValues(ctx: MeshContext, pod: KubeObject, config: ProxyConfig): Map<string, number> {
  const values = new Map<string, number>();
  const uptime = uptimeSeconds(ctx, pod);
  values.set('server.live', 1);
  values.set('server.state', 0);
  values.set('server.uptime', uptime);
  values.set('server.concurrency', 2);
  values.set('server.total_connections', 0);
  values.set('server.days_until_first_cert_expiring', 0);
  values.set('cluster_manager.active_clusters', config.clusters.length);
  values.set('cluster_manager.cds.update_success', 1);
  values.set('listener_manager.total_listeners_active', config.listeners.length);
  values.set('listener_manager.lds.update_success', 1);
  values.set('cluster.xds-grpc.upstream_cx_total', 1);
  values.set('cluster.xds-grpc.upstream_cx_active', 1);
  for (const cluster of config.clusters) {
    // Static clusters (xds-grpc, agent, …) have their own counters; only routable ones are listed here.
    if (!cluster.upstream && cluster.type === 'STATIC' && cluster.name !== 'BlackHoleCluster')
      continue;
    for (const stat of CLUSTER_STATS) values.set(`cluster.${cluster.name}.${stat}`, 0);
    values.set(`cluster.${cluster.name}.membership_total`, cluster.endpoints.length);
    values.set(`cluster.${cluster.name}.membership_healthy`, cluster.endpoints.length);
  }
  for (const [name, value] of ctx.state.stats.countersOf(proxyKey(pod))) values.set(name, value);
  return values;
}

function clustersText(ctx: MeshContext, pod: KubeObject, config: ProxyConfig): string {
  const lines: string[] = [];
  const key = proxyKey(pod);
  for (const cluster of config.clusters) {
    const name = cluster.name;
    lines.push(`${name}::observability_name::${name}`);
    for (const priority of ['default_priority', 'high_priority']) {
      for (const limit of [
        'max_connections',
        'max_pending_requests',
        'max_requests',
        'max_retries',
      ]) {
        lines.push(`${name}::${priority}::${limit}::4294967295`);
      }
    }
    lines.push(`${name}::added_via_api::${cluster.upstream ? 'true' : 'false'}`);
    if (cluster.type === 'EDS') lines.push(`${name}::eds_service_name::${name}`);
    for (const [index, endpoint] of cluster.endpoints.entries()) {
      const host = `${name}::${formatAddress(endpoint.address) ?? ''}`;
      const stat = (suffix: string): number =>
        index === 0 ? ctx.state.stats.counter(key, `cluster.${name}.${suffix}`) : 0;
      lines.push(
        `${host}::cx_active::0`,
        `${host}::cx_connect_fail::${stat('upstream_cx_connect_fail')}`,
        `${host}::cx_total::${stat('upstream_cx_total')}`,
        `${host}::rq_active::0`,
        `${host}::rq_error::0`,
        `${host}::rq_success::${stat('upstream_rq_completed')}`,
        `${host}::rq_timeout::0`,
        `${host}::rq_total::${stat('upstream_rq_total')}`,
        `${host}::hostname::${cluster.upstream?.service.hostname ?? ''}`,
        `${host}::health_flags::healthy`,
        `${host}::weight::1`,
        `${host}::region::`,
        `${host}::zone::`,
        `${host}::sub_zone::`,
        `${host}::canary::false`,
        `${host}::priority::0`,
        `${host}::success_rate::-1`,
        `${host}::local_origin_success_rate::-1`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

function clusterDump(cluster: ClusterConfig, versionInfo: string): Record<string, unknown> {
  const socket = transportSocket(cluster);
  return {
    version_info: versionInfo,
    cluster: {
      '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
      name: cluster.name,
      type: cluster.type,
      connect_timeout: '10s',
      ...(cluster.type === 'EDS' ? { eds_cluster_config: { service_name: cluster.name } } : {}),
      load_assignment: {
        cluster_name: cluster.name,
        endpoints: [
          {
            lb_endpoints: cluster.endpoints.map((endpoint) => ({
              endpoint: {
                address: {
                  socket_address: {
                    address: endpoint.address.ip,
                    port_value: endpoint.address.port,
                  },
                },
              },
            })),
          },
        ],
      },
      ...(socket ? { transport_socket: socket } : {}),
      metadata: cluster.upstream?.rule
        ? {
            filter_metadata: {
              istio: {
                config: `/apis/networking.istio.io/v1/namespaces/${namespaceOf(cluster.upstream.rule)}/destination-rule/${cluster.upstream.rule.metadata.name}`,
                subset: cluster.upstream.subset ?? '',
              },
            },
          }
        : undefined,
    },
    last_updated: versionInfo.split('/')[0],
  };
}

function certsJson(ctx: MeshContext, pod: KubeObject): string {
  const identity = workloadIdentity(ctx, pod);
  const describe = (cert: PresentedCert | undefined): Record<string, unknown> => {
    const start = cert?.details.find(([name]) => name === 'Start date')?.[1] ?? '';
    const end = cert?.details.find(([name]) => name === 'Expire date')?.[1] ?? '';
    const expires = Date.parse(end);
    return {
      path: '<inline>',
      serial_number: cert?.details.find(([name]) => name === 'Serial Number')?.[1] ?? '',
      subject_alt_names: (cert?.uris ?? []).map((uri) => ({ uri })),
      days_until_expiration: String(
        Number.isFinite(expires)
          ? Math.max(0, Math.floor((expires - ctx.now.getTime()) / 86_400_000))
          : 0,
      ),
      valid_from: Number.isFinite(Date.parse(start)) ? new Date(start).toISOString() : start,
      expiration_time: Number.isFinite(expires) ? new Date(expires).toISOString() : end,
    };
  };
  return `${JSON.stringify(
    {
      certificates: [
        { ca_cert: [describe(identity.chain[1])], cert_chain: [describe(identity.chain[0])] },
      ],
    },
    null,
    2,
  )
    // Envoy's JSON escapes angle brackets.
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')}\n`;
}

function secretsDump(
  ctx: MeshContext,
  pod: KubeObject,
  versionInfo: string,
): Record<string, unknown> {
  const identity = workloadIdentity(ctx, pod);
  const base64 = (text: string): string => Buffer.from(`${text}\n`).toString('base64');
  const chain = identity.chain
    .slice(0, 1)
    .map((cert) => cert.pem ?? '')
    .join('\n');
  const root = identity.chain
    .slice(1)
    .map((cert) => cert.pem ?? '')
    .join('\n');
  return {
    '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
    dynamic_active_secrets: [
      {
        name: 'default',
        version_info: versionInfo,
        secret: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
          name: 'default',
          tls_certificate: {
            certificate_chain: { inline_bytes: base64(chain) },
            private_key: { inline_bytes: 'W3JlZGFjdGVkXQ==' },
          },
        },
      },
      {
        name: 'ROOTCA',
        version_info: versionInfo,
        secret: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
          name: 'ROOTCA',
          validation_context: { trusted_ca: { inline_bytes: base64(root) } },
        },
      },
    ],
  };
}

function configDump(ctx: MeshContext, pod: KubeObject, config: ProxyConfig): string {
  const versionInfo = `${ctx.now.toISOString()}/1`;
  const dump = {
    configs: [
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
        bootstrap: {
          node: {
            id: nodeId(pod),
            cluster: `${pod.metadata.labels?.app ?? pod.metadata.name}.${namespaceOf(pod)}`,
            metadata: {
              ISTIO_VERSION: istioVersion(pod),
              NAMESPACE: namespaceOf(pod),
              NAME: pod.metadata.name,
            },
            user_agent_name: 'envoy',
            user_agent_build_version: { version: { major_number: 1, minor_number: 36, patch: 2 } },
          },
        },
      },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
        version_info: versionInfo,
        static_clusters: config.clusters
          .filter(
            (cluster) =>
              !cluster.upstream &&
              cluster.name !== 'BlackHoleCluster' &&
              cluster.name !== 'PassthroughCluster' &&
              cluster.name !== 'InboundPassthroughCluster',
          )
          .map((cluster) => ({
            cluster: {
              '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
              name: cluster.name,
              type: cluster.type,
            },
          })),
        dynamic_active_clusters: config.clusters
          .filter(
            (cluster) =>
              cluster.upstream ||
              ['BlackHoleCluster', 'PassthroughCluster', 'InboundPassthroughCluster'].includes(
                cluster.name,
              ),
          )
          .map((cluster) => clusterDump(cluster, versionInfo)),
      },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
        version_info: versionInfo,
        dynamic_listeners: config.listeners.map((listener) => ({
          name: listener.name,
          active_state: {
            version_info: versionInfo,
            listener: {
              '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener',
              name: listener.name,
              address: { socket_address: { address: '0.0.0.0', port_value: listener.port } },
              filter_chains: listener.chains.map((chain) => ({
                filter_chain_match: {
                  ...(chain.serverNames.length > 0 ? { server_names: chain.serverNames } : {}),
                  ...(chain.transport !== 'any' ? { transport_protocol: chain.transport } : {}),
                },
                filters: [
                  chain.kind === 'http'
                    ? {
                        name: 'envoy.filters.network.http_connection_manager',
                        typed_config: {
                          '@type':
                            'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                          rds: { route_config_name: chain.routeConfig },
                        },
                      }
                    : {
                        name: 'envoy.filters.network.tcp_proxy',
                        typed_config: {
                          '@type':
                            'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
                          cluster: chain.cluster,
                        },
                      },
                ],
                ...(chain.terminatesTls
                  ? {
                      transport_socket: {
                        name: 'envoy.transport_sockets.tls',
                        typed_config: {
                          '@type':
                            'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
                          require_client_certificate: chain.terminatesTls.includes('MUTUAL'),
                        },
                      },
                    }
                  : {}),
              })),
            },
          },
        })),
      },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
        dynamic_route_configs: config.routes.map((route) => ({
          version_info: versionInfo,
          route_config: {
            '@type': 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
            name: route.name,
            virtual_hosts: route.virtualHosts.map((vhost) => ({
              name: vhost.name,
              domains: vhost.domains,
              routes: vhost.routes.map((entry) => ({
                name: entry.name,
                match: entry.match,
                route: entry.action,
              })),
            })),
          },
        })),
      },
      secretsDump(ctx, pod, versionInfo),
    ],
  };
  return `${JSON.stringify(dump, null, 2)}\n`;
}

function serverInfo(ctx: MeshContext, pod: KubeObject): string {
  const uptime = uptimeSeconds(ctx, pod);
  return `${JSON.stringify(
    {
      version: `0f8d2c3a1b5e4f6789abcdef0123456789abcdef/${ENVOY_VERSION}-dev/Clean/RELEASE/BoringSSL`,
      state: 'LIVE',
      hot_restart_version: 'disabled',
      command_line_options: {
        base_id: '0',
        concurrency: 2,
        config_path: 'etc/istio/proxy/envoy-rev.json',
        mode: 'Serve',
        drain_strategy: 'Immediate',
      },
      node: {
        id: nodeId(pod),
        cluster: `${pod.metadata.labels?.app ?? pod.metadata.name}.${namespaceOf(pod)}`,
        metadata: { ISTIO_VERSION: istioVersion(pod), NAMESPACE: namespaceOf(pod) },
      },
      uptime_current_epoch: `${uptime}s`,
      uptime_all_epochs: `${uptime}s`,
    },
    null,
    2,
  )}\n`;
}

function failure(message: string): ExecResult {
  return { stdout: '', stderr: `Error: ${message}\n`, exitCode: 1 };
}

/** Runs `pilot-agent` with `args` (argv without the program name) in the proxy of `pod`. */
export function runPilotAgent(ctx: MeshContext, pod: KubeObject, args: string[]): ExecResult {
  const positional = args.filter(
    (arg, index) => !arg.startsWith('--') && !(args[index - 1] ?? '').startsWith('--debug-port'),
  );
  const [command, method, rawPath] = positional;
  if (command === 'version')
    return {
      stdout: `version.BuildInfo{Version:"${istioVersion(pod)}"}\n`,
      stderr: '',
      exitCode: 0,
    };
  if (command !== 'request') {
    return failure(
      `unknown command "${command ?? ''}" for "pilot-agent"\nRun 'pilot-agent --help' for usage.`,
    );
  }
  if (!method || !rawPath)
    return failure('requires at least 2 arg(s), only received ' + String(positional.length - 1));
  if (method !== 'GET' && method !== 'POST')
    return failure(`failed to make request: unsupported method ${method}`);
  const [pathPart = '', query = ''] = rawPath.replace(/^\//, '').split('?');
  const params = new URLSearchParams(query);
  const config = proxyConfig(ctx, pod);
  const matcher = proxyStatsMatcher(ctx.mesh, pod);
  const ok = (stdout: string): ExecResult => ({ stdout, stderr: '', exitCode: 0 });
  switch (pathPart) {
    case 'stats': {
      const filterText = params.get('filter');
      let filter: RegExp | undefined;
      try {
        filter = filterText ? new RegExp(filterText) : undefined;
      } catch {
        return failure(`received 400 from Envoy: Invalid re2 regex`);
      }
      return ok(renderStatsText(statValues(ctx, pod, config), matcher, filter));
    }
    case 'stats/prometheus':
      return ok(
        renderPrometheus(
          ctx.state.stats.metricsOf(proxyKey(pod)),
          statValues(ctx, pod, config),
          matcher,
        ),
      );
    case 'config_dump':
      return ok(configDump(ctx, pod, config));
    case 'clusters':
      return ok(clustersText(ctx, pod, config));
    case 'listeners':
      return ok(
        `${config.listeners.map((listener) => `${listener.name}::0.0.0.0:${listener.port}`).join('\n')}\n`,
      );
    case 'server_info':
      return ok(serverInfo(ctx, pod));
    case 'ready':
      return ok('LIVE\n');
    case 'certs':
      return ok(certsJson(ctx, pod));
    default:
      return failure(
        `received 404 from Envoy: invalid path. admin commands are: /certs /clusters /config_dump /listeners /ready /server_info /stats /stats/prometheus`,
      );
  }
}
