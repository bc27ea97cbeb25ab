/**
 * Parses the two ways an Istio proxy reports counters: Envoy's own `stats` text
 * (`pilot-agent request GET stats`, where `cluster.outbound|…` counters live) and the
 * Prometheus endpoint (`stats/prometheus`, where Istio's standard metrics live).
 */

const NUMBER = /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/;

/**
 * Parses `NAME: VALUE` lines into a map. Histograms (`P0(nan,nan) P25(…)`) and other
 * non-numeric values are skipped. The last `: ` separates name and value because Istio's
 * cluster names may contain colons (IPv6 hosts).
 */
export function parseEnvoyStats(text: string): Map<string, number> {
  const stats = new Map<string, number>();
  for (const line of text.split(/\r?\n/)) {
    const separator = line.lastIndexOf(': ');
    if (separator <= 0) continue;
    const value = line.slice(separator + 2).trim();
    if (!NUMBER.test(value)) continue;
    stats.set(line.slice(0, separator).trim(), Number(value));
  }
  return stats;
}

/** One sample of the Prometheus text exposition format. */
export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** Parses Prometheus text exposition; comments and malformed lines are skipped. */
export function parsePrometheus(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const line of text.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const sample = parsePrometheusLine(trimmed);
    if (sample) samples.push(sample);
  }
  return samples;
}

function parsePrometheusLine(line: string): PrometheusSample | undefined {
  const name = METRIC_NAME.exec(line)?.[0];
  if (!name) return undefined;
  let rest = line.slice(name.length);
  let labels: Record<string, string> = {};
  if (rest.startsWith('{')) {
    const parsed = parseLabels(rest);
    if (!parsed) return undefined;
    labels = parsed.labels;
    rest = rest.slice(parsed.length);
  }
  // The value is followed by an optional timestamp, which the harness has no use for.
  const [valueText] = rest.trim().split(/\s+/);
  const value = parseSampleValue(valueText);
  return value === undefined ? undefined : { name, labels, value };
}

/** Parses `{a="x",b="y\"z"}` from the start of `text`; returns the labels and the characters consumed. */
function parseLabels(text: string): { labels: Record<string, string>; length: number } | undefined {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    while (text[i] === ' ') i++;
    if (text[i] === '}') return { labels, length: i + 1 };
    const labelName = LABEL_NAME.exec(text.slice(i))?.[0];
    if (!labelName) return undefined;
    i += labelName.length;
    while (text[i] === ' ') i++;
    if (text[i] !== '=') return undefined;
    i++;
    while (text[i] === ' ') i++;
    if (text[i] !== '"') return undefined;
    i++;
    let value = '';
    for (;;) {
      const ch = text[i];
      if (ch === undefined) return undefined;
      if (ch === '"') break;
      if (ch === '\\') {
        const escaped = text[i + 1];
        value += escaped === 'n' ? '\n' : (escaped ?? '');
        i += 2;
      } else {
        value += ch;
        i++;
      }
    }
    i++;
    labels[labelName] = value;
    while (text[i] === ' ') i++;
    if (text[i] === ',') i++;
    else if (text[i] !== '}') return undefined;
  }
}

function parseSampleValue(text: string | undefined): number | undefined {
  switch (text) {
    case undefined:
    case '':
      return undefined;
    case 'NaN':
      return NaN;
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    default:
      return NUMBER.test(text) ? Number(text) : undefined;
  }
}

/** Sums the samples of one metric whose labels include every `labelFilter` pair. */
export function sumMetric(
  samples: readonly PrometheusSample[],
  name: string,
  labelFilter: Readonly<Record<string, string>> = {},
): number {
  const filter = Object.entries(labelFilter);
  let sum = 0;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (filter.every(([label, value]) => sample.labels[label] === value)) sum += sample.value;
  }
  return sum;
}
