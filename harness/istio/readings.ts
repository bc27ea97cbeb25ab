/**
 * What the harness reads off an installed Istio's objects without asking the API server:
 * the release an image reference names and whether a proxy stats matcher keeps the outbound
 * counters. Apart from detect.ts, which reaches the cluster through @kubernetes/client-node,
 * so that the stand-in istioctl can share them without loading that client (about 1.5 s of
 * CPU per invocation).
 */
import { OUTBOUND_STATS_PREFIX } from './overlay.ts';

/**
 * Whether a ProxyConfig `proxyStatsMatcher` keeps the gateway's per-upstream counters
 * (`cluster.outbound|PORT|SUBSET|HOST.upstream_cx_total` and `...upstream_rq_total`)
 * for any host: an inclusion prefix of `cluster.outbound|`, a matching suffix, or a
 * regex Envoy would fully match.
 */
export function statsMatcherIncludesOutbound(matcher: unknown): boolean {
  if (!matcher || typeof matcher !== 'object') return false;
  const {
    inclusionPrefixes = [],
    inclusionSuffixes = [],
    inclusionRegexps = [],
  } = matcher as {
    inclusionPrefixes?: unknown[];
    inclusionSuffixes?: unknown[];
    inclusionRegexps?: unknown[];
  };
  const samples = ['upstream_cx_total', 'upstream_rq_total'].map(
    (counter) => `${OUTBOUND_STATS_PREFIX}|443||egress-conformance.example.${counter}`,
  );
  const kept = (stat: string): boolean =>
    inclusionPrefixes.some(
      (p) => typeof p === 'string' && `${OUTBOUND_STATS_PREFIX}|`.startsWith(p),
    ) ||
    inclusionSuffixes.some((s) => typeof s === 'string' && s !== '' && stat.endsWith(s)) ||
    inclusionRegexps.some((r) => typeof r === 'string' && fullMatch(r, stat));
  return samples.every(kept);
}

function fullMatch(pattern: string, text: string): boolean {
  try {
    // Envoy's safe_regex matchers match the whole stat name.
    return new RegExp(`^(?:${pattern})$`).test(text);
  } catch {
    return false;
  }
}

/** The release version in an image reference: `…/pilot:1.31.1-distroless` → `1.31.1`. */
export function imageVersion(image: string): string {
  const withoutDigest = image.split('@')[0] ?? '';
  const lastSegment = withoutDigest.slice(withoutDigest.lastIndexOf('/') + 1);
  const colon = lastSegment.lastIndexOf(':');
  if (colon === -1)
    return image.includes('@') ? `unknown (${image.split('@')[1]})` : 'unknown (untagged image)';
  const tag = lastSegment.slice(colon + 1);
  return /^(\d+\.\d+\.\d+(?:-(?:alpha|beta|rc)[\w.]*)?)/.exec(tag)?.[1] ?? tag;
}
