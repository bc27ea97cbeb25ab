/**
 * VirtualService route selection, for sidecars (`mesh`) and gateways alike: which
 * VirtualServices apply, and which of their `http`, `tls` or `tcp` routes a request or
 * connection takes. First matching route wins, as in Envoy's route tables.
 */
import type { ClusterView, KubeObject } from '../types.ts';
import {
  array,
  integer,
  istioObjects,
  labelsOf,
  mapSelects,
  namespaceOf,
  record,
  spec,
  stringMap,
  strings,
  text,
} from './k8s.ts';
import { exportedTo, gatewayRefs, hostMatches, qualifyHost } from './registry.ts';
import type { HttpRequest } from './wire.ts';
import { authorityHost } from './wire.ts';

/** Where routing happens: a sidecar (`mesh`), or a gateway listening for some Gateway resources. */
export type RouteScope =
  | { kind: 'mesh'; sourcePod: KubeObject }
  | { kind: 'gateway'; refs: string[]; gatewayNamespace: string };

/** A route's chosen destination. */
export interface RouteDestination {
  /** Absolute host (short names qualified in the VirtualService's namespace). */
  host: string;
  port: number | undefined;
  subset: string | undefined;
}

/** The outcome of matching one VirtualService route. */
export interface MatchedRoute {
  virtualService: KubeObject;
  /** Envoy route name: the route's `name` (plus `.matchName`), empty when unnamed. */
  routeName: string;
  destination: RouteDestination | undefined;
  /** `directResponse` or `redirect` instead of a destination (HTTP only). */
  local?: { status: number; body: string; location?: string };
}

function vsGateways(vs: KubeObject): string[] {
  const names = strings(spec(vs).gateways);
  return gatewayRefs(names.length > 0 ? names : ['mesh'], namespaceOf(vs));
}

function inScope(refs: string[], scope: RouteScope): boolean {
  return scope.kind === 'mesh'
    ? refs.includes('mesh')
    : refs.some((ref) => scope.refs.includes(ref));
}

/**
 * VirtualServices bound to the scope (and, for sidecars, exported to the client's
 * namespace) with a host accepted by `acceptHost(qualifiedHost, vsNamespace)`, oldest first.
 */
export function virtualServicesInScope(
  view: ClusterView,
  scope: RouteScope,
  acceptHost: (host: string, vsNamespace: string) => boolean,
): KubeObject[] {
  return istioObjects(view, 'VirtualService').filter((vs) => {
    const namespace = namespaceOf(vs);
    if (
      scope.kind === 'mesh' &&
      !exportedTo(spec(vs).exportTo, namespace, namespaceOf(scope.sourcePod))
    ) {
      return false;
    }
    if (!inScope(vsGateways(vs), scope)) return false;
    return strings(spec(vs).hosts).some((pattern) =>
      acceptHost(qualifyHost(pattern, namespace), namespace),
    );
  });
}

/** VirtualServices bound to the scope whose hosts include `host`, oldest first. */
export function virtualServicesFor(
  view: ClusterView,
  scope: RouteScope,
  host: string,
): KubeObject[] {
  return virtualServicesInScope(view, scope, (pattern) => hostMatches(pattern, host));
}

/** What the route matchers look at. */
export interface RouteInput {
  scope: RouteScope;
  /** Service port (sidecar) or Gateway server port (gateway). */
  port: number;
  sni?: string | undefined;
  request?: HttpRequest;
  /** Ignore `sniHosts` (the `sni-ignored` fault at the gateway). */
  ignoreSni?: boolean;
}

function stringMatch(matcher: unknown, value: string | undefined, ignoreCase = false): boolean {
  const m = record(matcher);
  if (value === undefined) return false;
  const v = ignoreCase ? value.toLowerCase() : value;
  const norm = (s: string): string => (ignoreCase ? s.toLowerCase() : s);
  if (typeof m.exact === 'string') return v === norm(m.exact);
  if (typeof m.prefix === 'string') return v.startsWith(norm(m.prefix));
  if (typeof m.regex === 'string') {
    try {
      return new RegExp(`^(?:${m.regex})$`).test(value);
    } catch {
      return false;
    }
  }
  return true;
}

function commonMatch(match: Record<string, unknown>, vs: KubeObject, input: RouteInput): boolean {
  const port = integer(match.port);
  if (port !== undefined && port !== input.port) return false;
  const gateways = strings(match.gateways);
  if (gateways.length > 0 && !inScope(gatewayRefs(gateways, namespaceOf(vs)), input.scope))
    return false;
  if (input.scope.kind === 'mesh') {
    const sourceLabels = stringMap(match.sourceLabels);
    if (!mapSelects(sourceLabels, labelsOf(input.scope.sourcePod))) return false;
    const sourceNamespace = text(match.sourceNamespace);
    if (sourceNamespace && sourceNamespace !== namespaceOf(input.scope.sourcePod)) return false;
  } else if (Object.keys(stringMap(match.sourceLabels)).length > 0) {
    // Gateways have no source workload labels to match.
    return false;
  }
  return true;
}

function httpMatch(match: Record<string, unknown>, vs: KubeObject, input: RouteInput): boolean {
  if (!commonMatch(match, vs, input)) return false;
  const request = input.request;
  if (!request) return false;
  const path = request.path.split('?')[0] ?? request.path;
  const ignoreCase = match.ignoreUriCase === true;
  if (match.uri !== undefined && !stringMatch(match.uri, path, ignoreCase)) return false;
  if (match.method !== undefined && !stringMatch(match.method, request.method)) return false;
  if (
    match.authority !== undefined &&
    !stringMatch(match.authority, authorityHost(request.authority))
  ) {
    return false;
  }
  for (const [name, matcher] of Object.entries(record(match.headers))) {
    if (!stringMatch(matcher, request.headers[name.toLowerCase()])) return false;
  }
  for (const name of Object.keys(record(match.withoutHeaders))) {
    if (request.headers[name.toLowerCase()] !== undefined) return false;
  }
  return true;
}

function tlsMatch(match: Record<string, unknown>, vs: KubeObject, input: RouteInput): boolean {
  if (!commonMatch(match, vs, input)) return false;
  if (input.ignoreSni) return true;
  const sniHosts = strings(match.sniHosts);
  const sni = input.sni;
  return (
    sniHosts.length === 0 || (sni !== undefined && sniHosts.some((host) => hostMatches(host, sni)))
  );
}

/** The destination with the largest weight (ties: the first), as the bulk of traffic goes. */
function pickDestination(
  route: Record<string, unknown>,
  vs: KubeObject,
): RouteDestination | undefined {
  const candidates = array(route.route).map(record);
  let best: Record<string, unknown> | undefined;
  let bestWeight = -1;
  for (const candidate of candidates) {
    const weight = integer(candidate.weight) ?? (candidates.length === 1 ? 100 : 0);
    if (weight > bestWeight) {
      best = candidate;
      bestWeight = weight;
    }
  }
  if (!best) return undefined;
  const destination = record(best.destination);
  const host = text(destination.host);
  if (!host) return undefined;
  return {
    host: qualifyHost(host, namespaceOf(vs)),
    port: integer(record(destination.port).number),
    subset: text(destination.subset) || undefined,
  };
}

function matchRoutes(
  vs: KubeObject,
  field: 'http' | 'tls' | 'tcp',
  input: RouteInput,
): MatchedRoute | undefined {
  for (const raw of array(spec(vs)[field])) {
    const route = record(raw);
    const matches = array(route.match).map(record);
    const matched =
      matches.length === 0
        ? // A route without match clauses still honours the VirtualService's gateways.
          { name: undefined as string | undefined }
        : matches
            .map((match) => ({ match, name: text(match.name) }))
            .find(({ match }) =>
              field === 'http'
                ? httpMatch(match, vs, input)
                : field === 'tls'
                  ? tlsMatch(match, vs, input)
                  : commonMatch(match, vs, input),
            );
    if (!matched) continue;
    const baseName = text(route.name) ?? '';
    const routeName = matched.name && baseName ? `${baseName}.${matched.name}` : baseName;
    if (field === 'http') {
      const direct = record(route.directResponse);
      const status = integer(direct.status);
      if (status !== undefined) {
        return {
          virtualService: vs,
          routeName,
          destination: undefined,
          local: { status, body: text(record(direct.body).string) ?? '' },
        };
      }
      const redirect = record(route.redirect);
      if (Object.keys(redirect).length > 0 && input.request) {
        const authority = text(redirect.authority) ?? input.request.authority;
        const scheme = text(redirect.scheme) ?? 'http';
        const uri = text(redirect.uri) ?? input.request.path;
        return {
          virtualService: vs,
          routeName,
          destination: undefined,
          local: {
            status: integer(redirect.redirectCode) ?? 301,
            body: '',
            location: `${scheme}://${authority}${uri}`,
          },
        };
      }
    }
    return { virtualService: vs, routeName, destination: pickDestination(route, vs) };
  }
  return undefined;
}

/** The first matching HTTP route across the VirtualServices, in order. */
export function matchHttpRoute(vss: KubeObject[], input: RouteInput): MatchedRoute | undefined {
  for (const vs of vss) {
    const matched = matchRoutes(vs, 'http', input);
    if (matched) return matched;
  }
  return undefined;
}

/** The first matching TLS route (by SNI), else the first matching TCP route. */
export function matchTlsOrTcpRoute(vss: KubeObject[], input: RouteInput): MatchedRoute | undefined {
  for (const vs of vss) {
    const matched = matchRoutes(vs, 'tls', input);
    if (matched) return matched;
  }
  return matchTcpRoute(vss, input);
}

/** The first matching TCP route. */
export function matchTcpRoute(vss: KubeObject[], input: RouteInput): MatchedRoute | undefined {
  for (const vs of vss) {
    const matched = matchRoutes(vs, 'tcp', input);
    if (matched) return matched;
  }
  return undefined;
}
