/**
 * Envoy counters per proxy and Istio's standard metrics, with the stats matcher that
 * decides which Envoy stats exist at all (current Istio drops `cluster.outbound|…`
 * unless `proxyStatsMatcher` includes them). Rendered as `/stats` and `/stats/prometheus`.
 */
import type { StatsMatcher } from './mesh-config.ts';

/** Stats Istio's bootstrap keeps whatever the mesh config says. */
export const ALWAYS_INCLUDED: StatsMatcher = {
  prefixes: [
    'reporter=',
    'cluster_manager',
    'listener_manager',
    'server',
    'cluster.xds-grpc',
    'wasm',
    'component',
  ],
  suffixes: [
    'rbac.allowed',
    'rbac.denied',
    'shadow_allowed',
    'shadow_denied',
    'downstream_cx_active',
  ],
  regexps: [],
};

/** Per-cluster counters and gauges every Envoy cluster has from its creation. */
export const CLUSTER_STATS = [
  'membership_healthy',
  'membership_total',
  'upstream_cx_active',
  'upstream_cx_connect_fail',
  'upstream_cx_connect_timeout',
  'upstream_cx_destroy',
  'upstream_cx_rx_bytes_total',
  'upstream_cx_total',
  'upstream_cx_tx_bytes_total',
  'upstream_rq_active',
  'upstream_rq_completed',
  'upstream_rq_pending_total',
  'upstream_rq_retry',
  'upstream_rq_timeout',
  'upstream_rq_total',
] as const;

/** Whether a stat survives the proxy's stats matcher (plus Istio's always-on set). */
export function statIncluded(name: string, matcher: StatsMatcher): boolean {
  const test = (m: StatsMatcher): boolean =>
    m.prefixes.some((prefix) => name.startsWith(prefix)) ||
    m.suffixes.some((suffix) => name.endsWith(suffix)) ||
    m.regexps.some((pattern) => {
      try {
        return new RegExp(`^(?:${pattern})$`).test(name);
      } catch {
        return false;
      }
    });
  return test(ALWAYS_INCLUDED) || test(matcher);
}

/** An Istio standard metric series. */
export interface MetricSeries {
  name: string;
  labels: [string, string][];
  value: number;
}

/** Counters of every proxy the model has seen traffic through, keyed by proxy. */
export class ProxyStats {
  private counters = new Map<string, Map<string, number>>();
  private metrics = new Map<string, Map<string, MetricSeries>>();

  /** Adds to an Envoy counter of one proxy. */
  add(proxy: string, name: string, delta = 1): void {
    const own = this.counters.get(proxy) ?? new Map<string, number>();
    own.set(name, (own.get(name) ?? 0) + delta);
    this.counters.set(proxy, own);
  }

  /** Adds to an Istio standard metric series of one proxy. */
  addMetric(proxy: string, name: string, labels: [string, string][], delta = 1): void {
    const own = this.metrics.get(proxy) ?? new Map<string, MetricSeries>();
    const key = `${name}{${labels.map(([k, v]) => `${k}=${v}`).join(',')}}`;
    const series = own.get(key) ?? { name, labels, value: 0 };
    series.value += delta;
    own.set(key, series);
    this.metrics.set(proxy, own);
  }

  counter(proxy: string, name: string): number {
    return this.counters.get(proxy)?.get(name) ?? 0;
  }

  countersOf(proxy: string): Map<string, number> {
    return new Map(this.counters.get(proxy) ?? []);
  }

  metricsOf(proxy: string): MetricSeries[] {
    return [...(this.metrics.get(proxy)?.values() ?? [])];
  }
}

/** `/stats`: `name: value` lines, sorted, filtered by the matcher and an optional `filter` regex. */
export function renderStatsText(
  values: Map<string, number>,
  matcher: StatsMatcher,
  filter?: RegExp,
): string {
  const lines: string[] = [];
  for (const name of [...values.keys()].sort()) {
    if (!statIncluded(name, matcher)) continue;
    if (filter && !filter.test(name)) continue;
    lines.push(`${name}: ${values.get(name) ?? 0}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Envoy's tag extraction for the stats we keep: `cluster.<name>.<stat>` → `envoy_cluster_<stat>{cluster_name}`. */
function prometheusName(stat: string): { name: string; labels: [string, string][] } {
  const cluster = /^cluster\.(.+)\.([a-z0-9_]+)$/.exec(stat);
  if (cluster?.[1] && cluster[2]) {
    return { name: `envoy_cluster_${cluster[2]}`, labels: [['cluster_name', cluster[1]]] };
  }
  return { name: `envoy_${stat.replace(/[^a-zA-Z0-9_]/g, '_')}`, labels: [] };
}

const GAUGES = new Set([
  'membership_healthy',
  'membership_total',
  'upstream_cx_active',
  'upstream_rq_active',
  'live',
  'state',
  'uptime',
  'concurrency',
  'active_clusters',
  'total_listeners_active',
]);

/** `/stats/prometheus`: Istio metrics first (always kept), then the included Envoy stats. */
export function renderPrometheus(
  metrics: MetricSeries[],
  values: Map<string, number>,
  matcher: StatsMatcher,
): string {
  const out: string[] = [];
  const byName = new Map<string, MetricSeries[]>();
  for (const series of metrics)
    byName.set(series.name, [...(byName.get(series.name) ?? []), series]);
  for (const [name, series] of [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    out.push(`# TYPE ${name} counter`);
    for (const item of series) {
      const labels = item.labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
      out.push(`${name}{${labels}} ${item.value}`);
    }
  }
  const envoy = new Map<string, { labels: [string, string][]; value: number }[]>();
  for (const [stat, value] of [...values.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!statIncluded(stat, matcher)) continue;
    const { name, labels } = prometheusName(stat);
    envoy.set(name, [...(envoy.get(name) ?? []), { labels, value }]);
  }
  for (const [name, series] of envoy) {
    const shortName = name.replace(/^envoy_(cluster_)?(server_)?/, '');
    out.push(`# TYPE ${name} ${GAUGES.has(shortName) ? 'gauge' : 'counter'}`);
    for (const item of series) {
      const labels = item.labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',');
      out.push(labels ? `${name}{${labels}} ${item.value}` : `${name}{} ${item.value}`);
    }
  }
  return `${out.join('\n')}\n`;
}
