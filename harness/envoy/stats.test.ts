import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseEnvoyStats, parsePrometheus, sumMetric } from './stats.ts';

// Real published data, copied into the repository (fixtures/README.md says from where).
const FIXTURE = new URL('./fixtures/envoy-stats-lines.txt', import.meta.url);

describe('parseEnvoyStats', () => {
  it('reads the published egress-gateway counter', () => {
    const stats = parseEnvoyStats(readFileSync(FIXTURE, 'utf8'));
    expect(stats.get('cluster.outbound|443||edition.cnn.com.upstream_cx_total')).toBe(2);
    // The fixture's comment lines are not stats.
    expect([...stats.keys()]).toEqual(['cluster.outbound|443||edition.cnn.com.upstream_cx_total']);
  });

  it('separates on the last ": ", skips histograms and keeps gauges', () => {
    const text = [
      'cluster.outbound|443||edition.cnn.com.upstream_cx_active: 0',
      'cluster.outbound|443||edition.cnn.com.upstream_cx_total: 17',
      'cluster.outbound|80|egc|istio-egressgateway.istio-system.svc.cluster.local.upstream_rq_200: 3',
      'cluster.outbound|443||[fd00::1]:x.upstream_cx_total: 4',
      'cluster.outbound|443||edition.cnn.com.upstream_cx_length_ms: P0(nan,nan) P25(nan,nan) P50(nan,nan) P99(nan,nan) P100(nan,nan)',
      'cluster_manager.cds.update_duration: No recorded values',
      'server.uptime: 1234',
      'not a stat line',
      '',
    ].join('\n');
    expect(Object.fromEntries(parseEnvoyStats(text))).toEqual({
      'cluster.outbound|443||edition.cnn.com.upstream_cx_active': 0,
      'cluster.outbound|443||edition.cnn.com.upstream_cx_total': 17,
      'cluster.outbound|80|egc|istio-egressgateway.istio-system.svc.cluster.local.upstream_rq_200': 3,
      'cluster.outbound|443||[fd00::1]:x.upstream_cx_total': 4,
      'server.uptime': 1234,
    });
  });
});

// The shape an egress gateway's /stats/prometheus has after one HTTP and two TLS requests.
const PROMETHEUS = String.raw`# TYPE istio_requests_total counter
istio_requests_total{reporter="source",source_workload="istio-egressgateway",source_canonical_service="istio-egressgateway",source_workload_namespace="istio-system",source_principal="spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account",source_app="istio-egressgateway",source_version="unknown",source_cluster="Kubernetes",destination_workload="unknown",destination_workload_namespace="unknown",destination_principal="unknown",destination_app="unknown",destination_version="unknown",destination_service="edition.cnn.com",destination_canonical_service="unknown",destination_canonical_revision="latest",destination_service_name="edition.cnn.com",destination_service_namespace="unknown",destination_cluster="unknown",request_protocol="http",response_code="301",grpc_response_status="",response_flags="-",connection_security_policy="unknown"} 1
istio_requests_total{reporter="source",source_workload="istio-egressgateway",destination_service_name="edition.cnn.com",request_protocol="http",response_code="503",response_flags="UF"} 2
istio_requests_total{reporter="destination",source_workload="curl",destination_service_name="istio-egressgateway",request_protocol="http",response_code="301",response_flags="-"} 3
# TYPE istio_tcp_connections_opened_total counter
istio_tcp_connections_opened_total{reporter="source",source_workload="istio-egressgateway",source_workload_namespace="istio-system",destination_service="edition.cnn.com",destination_service_name="edition.cnn.com",destination_service_namespace="unknown",request_protocol="tcp",response_flags="-",connection_security_policy="unknown"} 2
istio_tcp_connections_opened_total{reporter="destination",source_workload="curl",destination_service_name="istio-egressgateway",request_protocol="tcp",response_flags="-",connection_security_policy="mutual_tls"} 2
# TYPE istio_request_duration_milliseconds histogram
istio_request_duration_milliseconds_bucket{reporter="source",le="+Inf"} 3
istio_request_duration_milliseconds_sum{reporter="source"} 151.5
envoy_server_live 1
envoy_cluster_upstream_cx_total{cluster_name="outbound|443||edition.cnn.com"} 2 1700000000000
odd_label{path="C:\\dir",quote="say \"hi\"",nl="a\nb",} NaN
broken{reporter="source" 5
`;

describe('parsePrometheus', () => {
  const samples = parsePrometheus(PROMETHEUS);

  it('reads names, labels and values, skipping comments and malformed lines', () => {
    expect(samples.map((s) => s.name)).toEqual([
      'istio_requests_total',
      'istio_requests_total',
      'istio_requests_total',
      'istio_tcp_connections_opened_total',
      'istio_tcp_connections_opened_total',
      'istio_request_duration_milliseconds_bucket',
      'istio_request_duration_milliseconds_sum',
      'envoy_server_live',
      'envoy_cluster_upstream_cx_total',
      'odd_label',
    ]);
    expect(samples[0]?.labels).toMatchObject({
      reporter: 'source',
      source_principal:
        'spiffe://cluster.local/ns/istio-system/sa/istio-egressgateway-service-account',
      destination_service_name: 'edition.cnn.com',
      grpc_response_status: '',
      response_code: '301',
    });
    expect(samples[5]).toEqual({
      name: 'istio_request_duration_milliseconds_bucket',
      labels: { reporter: 'source', le: '+Inf' },
      value: 3,
    });
    expect(samples[6]?.value).toBe(151.5);
    expect(samples[7]).toEqual({ name: 'envoy_server_live', labels: {}, value: 1 });
    expect(samples[8]).toEqual({
      name: 'envoy_cluster_upstream_cx_total',
      labels: { cluster_name: 'outbound|443||edition.cnn.com' },
      value: 2,
    });
  });

  it('unescapes label values', () => {
    expect(samples[9]?.labels).toEqual({ path: 'C:\\dir', quote: 'say "hi"', nl: 'a\nb' });
    expect(samples[9]?.value).toBeNaN();
  });
});

describe('sumMetric', () => {
  const samples = parsePrometheus(PROMETHEUS);

  it('sums the gateway-reported requests for the external host', () => {
    expect(
      sumMetric(samples, 'istio_requests_total', {
        reporter: 'source',
        destination_service_name: 'edition.cnn.com',
      }),
    ).toBe(3);
    expect(
      sumMetric(samples, 'istio_requests_total', {
        reporter: 'source',
        destination_service_name: 'edition.cnn.com',
        response_code: '301',
      }),
    ).toBe(1);
  });

  it('sums the gateway-reported TCP connections', () => {
    expect(
      sumMetric(samples, 'istio_tcp_connections_opened_total', {
        reporter: 'source',
        source_workload: 'istio-egressgateway',
        destination_service_name: 'edition.cnn.com',
      }),
    ).toBe(2);
  });

  it('sums every sample of the name without a filter, and 0 when nothing matches', () => {
    expect(sumMetric(samples, 'istio_tcp_connections_opened_total')).toBe(4);
    expect(sumMetric(samples, 'istio_requests_total', { reporter: 'nobody' })).toBe(0);
    expect(sumMetric(samples, 'no_such_metric')).toBe(0);
  });
});
