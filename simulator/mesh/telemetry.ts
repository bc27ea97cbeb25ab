/**
 * What a proxy counts for each upstream connection and request: Envoy cluster counters
 * and Istio's standard metrics (`reporter="source"`). The `counters-frozen` fault makes
 * gateway proxies count nothing.
 */
import type { KubeObject } from '../types.ts';
import type { MeshContext } from './context.ts';
import {
  canonicalService,
  isGatewayPod,
  keyOf,
  labelsOf,
  namespaceOf,
  serviceAccountOf,
  workloadName,
} from './k8s.ts';
import type { MeshService } from './registry.ts';
import { ISTIO_TCP_CONNECTIONS_OPENED } from '../../harness/facts/envoy.ts';

/** The key a proxy's counters live under: its UID, so a recreated pod starts from zero. */
export function proxyKey(pod: KubeObject): string {
  return pod.metadata.uid ?? keyOf(pod);
}

function frozen(ctx: MeshContext, pod: KubeObject): boolean {
  return ctx.fault('counters-frozen') && isGatewayPod(pod);
}

/** One upstream exchange as the counters see it. */
export interface UpstreamEvent {
  cluster: string;
  newConnection: boolean;
  connectFailed?: boolean;
  /** HTTP status, for requests; absent for TCP connections. */
  status?: number;
  txBytes: number;
  rxBytes: number;
}

/** Increments `cluster.<name>.*` counters for one upstream connection or request. */
export function countUpstream(ctx: MeshContext, pod: KubeObject, event: UpstreamEvent): void {
  if (frozen(ctx, pod)) return;
  const key = proxyKey(pod);
  const stat = (name: string, delta = 1): void =>
    ctx.state.stats.add(key, `cluster.${event.cluster}.${name}`, delta);
  if (event.newConnection || event.connectFailed) stat('upstream_cx_total');
  if (event.connectFailed) {
    stat('upstream_cx_connect_fail');
    return;
  }
  stat('upstream_cx_tx_bytes_total', event.txBytes);
  stat('upstream_cx_rx_bytes_total', event.rxBytes);
  if (event.status !== undefined) {
    stat('upstream_rq_total');
    stat('upstream_rq_completed');
    stat(`upstream_rq_${event.status}`);
    stat(`upstream_rq_${Math.floor(event.status / 100)}xx`);
  } else {
    stat('upstream_cx_destroy');
  }
}

function sourceLabels(ctx: MeshContext, pod: KubeObject): [string, string][] {
  const namespace = namespaceOf(pod);
  return [
    ['reporter', 'source'],
    ['source_workload', workloadName(pod)],
    ['source_canonical_service', canonicalService(pod)],
    ['source_canonical_revision', labelsOf(pod)['service.istio.io/canonical-revision'] ?? 'latest'],
    ['source_workload_namespace', namespace],
    [
      'source_principal',
      `spiffe://${ctx.mesh.trustDomain}/ns/${namespace}/sa/${serviceAccountOf(pod)}`,
    ],
    ['source_app', labelsOf(pod).app ?? canonicalService(pod)],
    ['source_version', labelsOf(pod).version ?? 'unknown'],
    ['source_cluster', 'Kubernetes'],
  ];
}

function destinationLabels(
  service: MeshService | undefined,
  host: string,
  mtls: boolean,
): [string, string][] {
  const name = service?.source === 'Service' ? service.object.metadata.name : host;
  return [
    ['destination_workload', 'unknown'],
    ['destination_workload_namespace', 'unknown'],
    ['destination_principal', 'unknown'],
    ['destination_app', 'unknown'],
    ['destination_version', 'unknown'],
    ['destination_service', host],
    ['destination_canonical_service', 'unknown'],
    ['destination_canonical_revision', 'latest'],
    ['destination_service_name', name],
    ['destination_service_namespace', service?.namespace ?? 'unknown'],
    ['destination_cluster', 'unknown'],
    ['connection_security_policy', mtls ? 'mutual_tls' : 'unknown'],
  ];
}

/** Records `istio_requests_total` (and its size/duration companions' counts) for one request. */
export function recordRequestMetric(
  ctx: MeshContext,
  pod: KubeObject,
  request: {
    service: MeshService | undefined;
    host: string;
    status: number;
    flags: string;
    mtls: boolean;
  },
): void {
  if (frozen(ctx, pod)) return;
  const labels: [string, string][] = [
    ...sourceLabels(ctx, pod),
    ...destinationLabels(request.service, request.host, request.mtls),
    ['request_protocol', 'http'],
    ['response_code', String(request.status)],
    ['grpc_response_status', ''],
    ['response_flags', request.flags || '-'],
  ];
  ctx.state.stats.addMetric(proxyKey(pod), 'istio_requests_total', labels);
}

/** Records `istio_tcp_connections_opened_total`/`closed_total` and byte counters for one connection. */
export function recordTcpMetric(
  ctx: MeshContext,
  pod: KubeObject,
  connection: {
    service: MeshService | undefined;
    host: string;
    flags: string;
    mtls: boolean;
    sent: number;
    received: number;
  },
): void {
  if (frozen(ctx, pod)) return;
  const labels: [string, string][] = [
    ...sourceLabels(ctx, pod),
    ...destinationLabels(connection.service, connection.host, connection.mtls),
    ['request_protocol', 'tcp'],
    ['response_flags', connection.flags || '-'],
  ];
  const key = proxyKey(pod);
  ctx.state.stats.addMetric(key, ISTIO_TCP_CONNECTIONS_OPENED, labels);
  ctx.state.stats.addMetric(key, 'istio_tcp_connections_closed_total', labels);
  ctx.state.stats.addMetric(key, 'istio_tcp_sent_bytes_total', labels, connection.sent);
  ctx.state.stats.addMetric(key, 'istio_tcp_received_bytes_total', labels, connection.received);
}
