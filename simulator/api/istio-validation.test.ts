// Istio's validation as the API server and the webhook apply it: the CRD schema (422) first,
// then validation.istio.io (400). Expected texts are upstream's (harness/facts/istio-validation.ts
// cites the lines); the bundled manifests must pass both, as they do on real Istio 1.29–1.31.
import { describe, expect, it } from 'vitest';
import { loadManifests } from '../../harness/manifests.ts';
import { ApiError } from '../store/errors.ts';
import { resourceTypeForKind } from '../store/resource-types.ts';
import type { KubeObject } from '../types.ts';
import { validateIstioConfig } from './istio-webhook.ts';
import { validateObject } from './validation.ts';

function object(kind: string, spec: unknown, metadata: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind,
    metadata: { name: 'x', namespace: 'ns', ...metadata },
    spec,
  } as KubeObject;
}

/** The webhook's error text, or undefined when it admits. */
function webhook(
  kind: string,
  spec: unknown,
  metadata?: Record<string, unknown>,
): string | undefined {
  return validateIstioConfig(object(kind, spec, metadata)).error;
}

/** The API server's 422 message, or undefined when the schema admits. */
function schema(kind: string, spec: unknown, kubernetesMinor = 36): string | undefined {
  const type = resourceTypeForKind(kind);
  if (type === undefined) throw new Error(kind);
  try {
    validateObject(type, object(kind, spec), kubernetesMinor);
    return undefined;
  } catch (error) {
    if (error instanceof ApiError) return error.message;
    throw error;
  }
}

const passthroughVs = {
  hosts: ['edition.cnn.com'],
  gateways: ['mesh', 'passthrough'],
  tls: [
    {
      match: [{ gateways: ['mesh'], port: 443, sniHosts: ['edition.cnn.com'] }],
      route: [
        {
          destination: {
            host: 'gw.istio-system.svc.cluster.local',
            subset: 's',
            port: { number: 443 },
          },
        },
      ],
    },
    {
      match: [{ gateways: ['passthrough'], port: 443, sniHosts: ['edition.cnn.com'] }],
      route: [{ destination: { host: 'edition.cnn.com', port: { number: 443 } }, weight: 100 }],
    },
  ],
};

describe('the bundled manifests', () => {
  const values = {
    namespace: 'egc-1',
    name: 'suite',
    host: 'edition.cnn.com',
    subset: 'egress-conformance',
    clientName: 'curl',
    clientImage: 'curlimages/curl:8.11.1',
    gatewayHost: 'istio-egressgateway.istio-system.svc.cluster.local',
    gatewaySelectorKey: 'istio',
    gatewaySelectorValue: 'egressgateway',
  };
  it.each([
    'http-gateway/istio-api',
    'http-gateway/istio-api/mtls',
    'passthrough/istio-api',
    'passthrough/istio-api/mtls',
  ])('%s passes the CRD schema and the webhook', (dir) => {
    const objects = loadManifests(dir, values) as unknown as KubeObject[];
    expect(objects.length).toBeGreaterThan(0);
    for (const manifest of objects) {
      expect(schema(manifest.kind, manifest.spec), manifest.kind).toBeUndefined();
      expect(validateIstioConfig(manifest).error, manifest.kind).toBeUndefined();
    }
  });
});

describe('CRD schema (422, before any webhook)', () => {
  it('requires sniHosts in a tls match: the webhook never sees a match without the key', () => {
    const spec = structuredClone(passthroughVs) as { tls: { match: Record<string, unknown>[] }[] };
    delete spec.tls[1]?.match[0]?.sniHosts;
    expect(schema('VirtualService', spec)).toBe(
      'VirtualService.networking.istio.io "x" is invalid: spec.tls[1].match[0].sniHosts: Required value',
    );
  });

  it('requires a destination and its host in routes', () => {
    expect(schema('VirtualService', { hosts: ['a.com'], tcp: [{ route: [{ weight: 1 }] }] })).toBe(
      'VirtualService.networking.istio.io "x" is invalid: spec.tcp[0].route[0].destination: Required value',
    );
    expect(
      schema('VirtualService', { hosts: ['a.com'], http: [{ route: [{ destination: {} }] }] }),
    ).toBe(
      'VirtualService.networking.istio.io "x" is invalid: spec.http[0].route[0].destination.host: Required value',
    );
  });

  it('requires ServiceEntry hosts (at least one) and port names, and spec itself', () => {
    expect(schema('ServiceEntry', { hosts: [], ports: [{ number: 443 }] })).toBe(
      'ServiceEntry.networking.istio.io "x" is invalid: [spec.hosts: Invalid value: 0: spec.hosts in body should have at least 1 items, spec.ports[0].name: Required value]',
    );
    expect(schema('ServiceEntry', undefined)).toBe(
      'ServiceEntry.networking.istio.io "x" is invalid: [spec: Required value, spec.hosts: Required value]',
    );
  });

  it('words CEL failures by the Kubernetes version: the type up to 1.34, the value from 1.35', () => {
    const spec = { hosts: ['a.com'], ports: [{ number: 70000, name: 'p' }] };
    expect(schema('ServiceEntry', spec, 34)).toBe(
      'ServiceEntry.networking.istio.io "x" is invalid: spec.ports[0].number: Invalid value: "integer": port must be between 1-65535',
    );
    expect(schema('ServiceEntry', spec, 36)).toBe(
      'ServiceEntry.networking.istio.io "x" is invalid: spec.ports[0].number: Invalid value: 70000: port must be between 1-65535',
    );
    expect(schema('ServiceEntry', { hosts: ['*'] }, 36)).toBe(
      'ServiceEntry.networking.istio.io "x" is invalid: spec.hosts[0]: Invalid value: "*": hostname cannot be wildcard',
    );
    expect(
      schema(
        'ServiceEntry',
        { hosts: ['a.com'], addresses: ['10.0.0.0/8'], resolution: 'DNS' },
        36,
      ),
    ).toBe(
      'ServiceEntry.networking.istio.io "x" is invalid: spec: Invalid value: CIDR addresses are allowed only for NONE/STATIC resolution types',
    );
  });

  it('checks enums and required server fields', () => {
    expect(schema('ServiceEntry', { hosts: ['a.com'], resolution: 'DYNAMIC' })).toBe(
      'ServiceEntry.networking.istio.io "x" is invalid: spec.resolution: Unsupported value: "DYNAMIC": supported values: "NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"',
    );
    expect(
      schema('Gateway', { servers: [{ port: { number: 443, name: 'tls' }, hosts: ['a.com'] }] }),
    ).toBe(
      'Gateway.networking.istio.io "x" is invalid: spec.servers[0].port.protocol: Required value',
    );
    expect(schema('DestinationRule', { subsets: [{ name: 'a' }] })).toBe(
      'DestinationRule.networking.istio.io "x" is invalid: spec.host: Required value',
    );
  });
});

describe('validation.istio.io: VirtualService', () => {
  it('admits the passthrough routes and refuses an empty sniHosts', () => {
    expect(webhook('VirtualService', passthroughVs)).toBeUndefined();
    const spec = structuredClone(passthroughVs);
    if (spec.tls[1]?.match[0]) spec.tls[1].match[0].sniHosts = [];
    expect(webhook('VirtualService', spec)).toBe('TLS match must have at least one SNI host');
  });

  it('requires SNI hosts to be within the hosts', () => {
    const spec = structuredClone(passthroughVs);
    if (spec.tls[0]?.match[0]) spec.tls[0].match[0].sniHosts = ['other.com'];
    expect(webhook('VirtualService', spec)).toBe(
      'SNI host "other.com" is not a compatible subset of any of the virtual service hosts: [edition.cnn.com]',
    );
  });

  it('requires routes, and prints several errors as go-multierror does', () => {
    expect(webhook('VirtualService', { hosts: ['a.com'] })).toBe(
      'http, tcp or tls must be provided in virtual service',
    );
    expect(webhook('VirtualService', { hosts: ['*'], tcp: [{}] })).toBe(
      '2 errors occurred:\n\t* wildcard host * is not allowed for virtual services bound to the mesh gateway\n\t* TCP route is required\n\n',
    );
  });

  it('checks hosts, gateways, weights and destinations', () => {
    const route = [{ route: [{ destination: { host: 'a.com' } }] }];
    expect(webhook('VirtualService', { hosts: ['a.com', 'a.com'], http: route })).toBe(
      'duplicate hosts in virtual service: a.com & a.com',
    );
    expect(
      webhook('VirtualService', { hosts: ['a.com'], gateways: ['ns/bad_name'], http: route }),
    ).toBe('invalid value for gateway name: "bad_name"');
    expect(
      webhook('VirtualService', {
        hosts: ['a.com'],
        http: [{ route: [{ destination: { host: 'a.com' } }, { destination: { host: 'b.com' } }] }],
      }),
    ).toBe('total destination weight = 0');
    expect(
      webhook('VirtualService', {
        hosts: ['a.com'],
        http: [
          {
            route: [{ destination: { host: 'a.com', subset: 'Bad_Subset', port: { number: 0 } } }],
          },
        ],
      }),
    ).toBe(
      '2 errors occurred:\n\t* subset name is invalid: Bad_Subset\n\t* port number 0 must be in the range 1..65535\n\n',
    );
    expect(webhook('VirtualService', { hosts: ['a.com'], http: [{}] })).toBe(
      'HTTP route, redirect or direct_response is required',
    );
  });
});

describe('validation.istio.io: Gateway', () => {
  const server = (tls: Record<string, unknown> | undefined, protocol = 'TLS') => ({
    servers: [
      { port: { number: 443, name: 'tls', protocol }, hosts: ['a.com'], ...(tls ? { tls } : {}) },
    ],
  });

  it('admits PASSTHROUGH, ISTIO_MUTUAL, and SIMPLE with a credential', () => {
    expect(webhook('Gateway', server({ mode: 'PASSTHROUGH' }))).toBeUndefined();
    expect(webhook('Gateway', server({ mode: 'ISTIO_MUTUAL' }))).toBeUndefined();
    expect(webhook('Gateway', server({ mode: 'SIMPLE', credentialName: 'c' }))).toBeUndefined();
  });

  it('applies the TLS mode rules', () => {
    expect(webhook('Gateway', server(undefined))).toBe(
      'server must have TLS settings for HTTPS/TLS protocols',
    );
    expect(webhook('Gateway', server({ mode: 'SIMPLE' }))).toBe(
      '2 errors occurred:\n\t* SIMPLE TLS requires a server certificate\n\t* SIMPLE TLS requires a private key\n\n',
    );
    expect(webhook('Gateway', server({ mode: 'ISTIO_MUTUAL', credentialName: 'c' }))).toBe(
      'ISTIO_MUTUAL TLS cannot have associated credentialName',
    );
    expect(webhook('Gateway', server({ mode: 'SIMPLE', credentialName: 'c' }, 'HTTP'))).toBe(
      'server cannot have TLS settings for plain text HTTP ports',
    );
    expect(webhook('Gateway', server({ mode: 'MUTUAL', credentialName: 'c' }))).toBeUndefined();
  });

  it('checks names, hosts, ports and protocols', () => {
    expect(webhook('Gateway', server({ mode: 'PASSTHROUGH' }), { name: 'a.b' })).toBe(
      'invalid gateway name: "a.b"',
    );
    expect(webhook('Gateway', { servers: [] })).toBe('gateway must have at least one server');
    expect(
      webhook('Gateway', {
        servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['short'] }],
      }),
    ).toBe('short names (non FQDN) are not allowed');
    expect(
      webhook('Gateway', {
        servers: [{ port: { number: 80, name: 'http', protocol: 'QUIC' }, hosts: ['a.com'] }],
      }),
    ).toBe(
      'invalid protocol "QUIC", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP',
    );
    expect(
      webhook('Gateway', {
        servers: [
          { port: { number: 80, name: 'p', protocol: 'HTTP' }, hosts: ['a.com'] },
          { port: { number: 81, name: 'p', protocol: 'HTTP' }, hosts: ['*.b.com'] },
        ],
      }),
    ).toBe('port names in servers must be unique: duplicate name p');
  });
});

describe('validation.istio.io: DestinationRule and ServiceEntry', () => {
  it('checks subsets and traffic policies', () => {
    expect(webhook('DestinationRule', { host: 'a.com', subsets: [{ name: '' }] })).toBe(
      'subset name cannot be empty',
    );
    expect(
      webhook('DestinationRule', { host: 'a.com', subsets: [{ name: 'a' }, { name: 'a' }] }),
    ).toBe('duplicate subset names: a');
    expect(webhook('DestinationRule', { host: 'a.com', trafficPolicy: {} })).toBe(
      'traffic policy must have at least one field',
    );
    expect(
      webhook('DestinationRule', {
        host: 'a.com',
        trafficPolicy: { portLevelSettings: [{ tls: { mode: 'MUTUAL' } }] },
      }),
    ).toBe(
      '3 errors occurred:\n\t* portTrafficPolicy must have valid port\n\t* client certificate required for mutual tls\n\t* private key required for mutual tls\n\n',
    );
    expect(webhook('DestinationRule', { host: 'bad_host' })).toBe(
      'domain name "bad_host" invalid (label "bad_host" invalid)',
    );
  });

  it('checks ServiceEntry hosts, ports and resolution', () => {
    const ports = [{ number: 443, name: 'tls', protocol: 'TLS' }];
    expect(webhook('ServiceEntry', { hosts: ['a.com'], ports, resolution: 'DNS' })).toBeUndefined();
    expect(webhook('ServiceEntry', { hosts: ['*.a.com'], ports, resolution: 'DNS' })).toBe(
      'hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode DNS, domain name "*.a.com" invalid (label "*" invalid)',
    );
    expect(
      webhook('ServiceEntry', {
        hosts: ['a.com', 'b.com'],
        ports: [{ number: 5432, name: 'Bad_Name', protocol: 'POSTGRES' }],
        resolution: 'DNS',
      }),
    ).toBe(
      '3 errors occurred:\n\t* invalid port name: Bad_Name\n\t* unsupported protocol: POSTGRES\n\t* multiple hosts provided with non-HTTP, non-TLS ports\n\n',
    );
  });

  it('refuses annotations reserved for Istio itself', () => {
    expect(
      webhook(
        'ServiceEntry',
        { hosts: ['a.com'] },
        { annotations: { 'istio.io/dry-run': 'true' } },
      ),
    ).toBe('ns/x has unsupported annotation istio.io/dry-run, please remove the annotation');
  });
});
