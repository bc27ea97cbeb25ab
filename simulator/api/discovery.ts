/** Discovery documents, built from the kinds table so that kubectl finds every served kind. */
import type { Json } from '../json.ts';
import { groupVersion, RESOURCE_TYPES } from '../store/resource-types.ts';
import { SERVE_ALL, type ServedPredicate } from './crd-serving.ts';
import type { Route } from './routes.ts';

/** The document a discovery path serves. */
export function discovery(
  route: Exclude<Route, { kind: 'resource' }>,
  isServed: ServedPredicate = SERVE_ALL,
): Json {
  if (route.kind === 'discovery-root') {
    return {
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '172.18.0.2:6443' }],
    };
  }
  if (route.kind === 'discovery-groups') {
    const groups = new Map<string, string[]>();
    for (const type of RESOURCE_TYPES) {
      if (type.group === '') continue;
      const served = type.versions.filter((version) => isServed(type, version));
      if (served.length === 0) continue;
      const versions = groups.get(type.group) ?? [];
      for (const version of served) if (!versions.includes(version)) versions.push(version);
      groups.set(type.group, versions);
    }
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, versions]) => ({
        name,
        versions: versions.map((version) => ({ groupVersion: `${name}/${version}`, version })),
        preferredVersion: {
          groupVersion: `${name}/${versions[0] ?? 'v1'}`,
          version: versions[0] ?? 'v1',
        },
      })),
    };
  }
  const resources: Json[] = [];
  for (const type of RESOURCE_TYPES) {
    if (type.group !== route.group || !type.versions.includes(route.version)) continue;
    if (!isServed(type, route.version)) continue;
    resources.push({
      name: type.plural,
      singularName: type.singular,
      namespaced: type.namespaced,
      kind: type.kind,
      verbs: type.verbs,
      ...(type.shortNames === undefined || type.shortNames.length === 0
        ? {}
        : { shortNames: type.shortNames }),
      ...(type.categories === undefined ? {} : { categories: type.categories }),
    });
    const sub = (name: string, kind: string, verbs: string[]): void => {
      resources.push({
        name: `${type.plural}/${name}`,
        singularName: '',
        namespaced: type.namespaced,
        kind,
        verbs,
      });
    };
    if (type.hasStatus) sub('status', type.kind, ['get', 'patch', 'update']);
    if (type.kind === 'Pod') {
      // The eviction subresource takes a policy/v1 Eviction (api/eviction.ts).
      resources.push({
        name: 'pods/eviction',
        singularName: '',
        namespaced: true,
        group: 'policy',
        version: 'v1',
        kind: 'Eviction',
        verbs: ['create'],
      });
      sub('exec', 'PodExecOptions', ['create', 'get']);
      sub('log', 'Pod', ['get']);
    }
    if (type.kind === 'Namespace') sub('finalize', 'Namespace', ['update']);
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion(route.group, route.version),
    resources,
  };
}
