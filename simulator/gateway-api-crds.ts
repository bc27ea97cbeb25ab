/**
 * Stand-ins for the Gateway API release's CRDs: what `standard-install.yaml` installs for the
 * kinds the simulated cluster serves (GatewayClass, Gateway, HTTPRoute, TLSRoute), with the
 * release's annotations, names and versions, and an open schema (the simulated API server
 * validates these kinds itself). The simulated provider starts with them installed; the
 * stand-in kind cluster starts without, and tests serve `standardInstallYaml` where the
 * harness downloads the release asset.
 */
import { stringify } from 'yaml';
import { CRD_API_VERSION } from '../harness/facts/custom-resources.ts';
import {
  GATEWAY_API_BUNDLE_ANNOTATIONS,
  GATEWAY_API_RELEASE,
} from '../harness/facts/gateway-api.ts';
import { RESOURCE_TYPES } from './store/resource-types.ts';
import type { KubeObject } from './types.ts';

/** The CRDs of the Gateway API kinds the simulated cluster serves, as release `version` ships them. */
export function gatewayApiCrds(version: string): KubeObject[] {
  return RESOURCE_TYPES.filter((type) => type.group === GATEWAY_API_RELEASE.group).map((type) => ({
    apiVersion: CRD_API_VERSION,
    kind: 'CustomResourceDefinition',
    metadata: {
      name: type.definedBy ?? `${type.plural}.${type.group}`,
      annotations: {
        [GATEWAY_API_BUNDLE_ANNOTATIONS.version]: version,
        [GATEWAY_API_BUNDLE_ANNOTATIONS.channel]: 'standard',
      },
    },
    spec: {
      group: type.group,
      names: {
        kind: type.kind,
        listKind: `${type.kind}List`,
        plural: type.plural,
        singular: type.singular,
        ...(type.shortNames ? { shortNames: [...type.shortNames] } : {}),
        ...(type.categories ? { categories: [...type.categories] } : {}),
      },
      scope: type.namespaced ? 'Namespaced' : 'Cluster',
      versions: type.versions.map((name, index) => ({
        name,
        served: true,
        storage: index === 0,
        schema: {
          openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
        subresources: { status: {} },
      })),
    },
  }));
}

/** A stand-in of the release asset `standard-install.yaml` (multi-document YAML of the CRDs). */
export function standardInstallYaml(version: string): string {
  const header = `#\n# Gateway API Standard channel install (egress-conformance stand-in of ${version})\n#\n`;
  return (
    header +
    gatewayApiCrds(version)
      .map((crd) => `---\n${stringify(crd)}`)
      .join('')
  );
}
