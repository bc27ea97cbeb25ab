/** Maps request paths to the kind, namespace, name and subresource they address. */
import { RESOURCE_TYPES, type ResourceType } from '../store/resource-types.ts';
import { SERVE_ALL, type ServedPredicate } from './crd-serving.ts';

/** What a resource path addresses. */
export interface ResourceRequest {
  type: ResourceType;
  version: string;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

/** Where a path leads: discovery or a resource. */
export type Route =
  | { kind: 'discovery-root' }
  | { kind: 'discovery-groups' }
  | { kind: 'discovery-resources'; group: string; version: string }
  | { kind: 'resource'; resource: ResourceRequest };

/** The route of `pathname` among the kinds `isServed` admits (a kind whose CRD is absent is a 404). */
export function routeFor(
  pathname: string,
  isServed: ServedPredicate = SERVE_ALL,
): Route | undefined {
  const segments = pathname
    .split('/')
    .filter((segment) => segment.length > 0)
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === 'api') {
    if (segments.length === 1) return { kind: 'discovery-root' };
    group = '';
    version = segments[1] ?? '';
    rest = segments.slice(2);
  } else if (segments[0] === 'apis') {
    if (segments.length === 1) return { kind: 'discovery-groups' };
    if (segments.length === 2) return undefined;
    group = segments[1] ?? '';
    version = segments[2] ?? '';
    rest = segments.slice(3);
  } else {
    return undefined;
  }
  const served = RESOURCE_TYPES.filter(
    (type) => type.group === group && type.versions.includes(version) && isServed(type, version),
  );
  if (served.length === 0) return undefined;
  if (rest.length === 0) return { kind: 'discovery-resources', group, version };
  const byPlural = (plural: string | undefined): ResourceType | undefined =>
    served.find((type) => type.plural === plural);
  const resource = (
    type: ResourceType | undefined,
    namespace: string | undefined,
    name: string | undefined,
    subresource: string | undefined,
  ): Route | undefined =>
    type === undefined
      ? undefined
      : { kind: 'resource', resource: { type, version, namespace, name, subresource } };
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const namespaced = byPlural(rest[2]);
    if (namespaced?.namespaced === true && rest.length <= 5)
      return resource(namespaced, rest[1], rest[3], rest[4]);
    // /api/v1/namespaces/{name}/status|finalize
    if (group === '' && rest.length === 3)
      return resource(byPlural('namespaces'), undefined, rest[1], rest[2]);
    return undefined;
  }
  if (rest.length > 3) return undefined;
  return resource(byPlural(rest[0]), undefined, rest[1], rest[2]);
}
