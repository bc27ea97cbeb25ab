// The data plane's view of Gateway API objects (withGatewayApi): the Istio Gateway and
// VirtualServices istiod derives from them, from which routing, TLS modes and logs follow.
import { describe, expect, it } from 'vitest';
import { ISTIO_GATEWAY_DEPLOYMENT } from '../../harness/facts/gateway-api.ts';
import type { ClusterView, KubeObject } from '../types.ts';
import { TRANSLATED_FROM, withGatewayApi } from './gateway-api.ts';

const NS = 'egc-gw';
const HOST = 'edition.cnn.com';
const GATEWAY_KEY = 'Gateway.gateway.networking.k8s.io';

/** A view over fixed objects, keyed as the store keys them. */
function view(objects: Record<string, KubeObject[]>): ClusterView {
  return {
    list: (kind, namespace) =>
      (objects[kind] ?? []).filter(
        (object) => namespace === undefined || object.metadata.namespace === namespace,
      ),
    get: (kind, namespace, name) =>
      (objects[kind] ?? []).find(
        (object) => object.metadata.namespace === namespace && object.metadata.name === name,
      ),
  };
}

const meta = (name: string) => ({ name, namespace: NS });

const gateway: KubeObject = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'Gateway',
  metadata: meta('cnn-egress-gateway'),
  spec: {
    gatewayClassName: 'istio',
    listeners: [
      { name: 'http', hostname: HOST, port: 80, protocol: 'HTTP' },
      { name: 'tls', hostname: HOST, port: 443, protocol: 'TLS', tls: { mode: 'Passthrough' } },
      {
        name: 'https-mtls',
        hostname: HOST,
        port: 8443,
        protocol: 'HTTPS',
        tls: {
          mode: 'Terminate',
          options: { 'gateway.istio.io/tls-terminate-mode': 'ISTIO_MUTUAL' },
        },
      },
    ],
  },
};

const serviceEntry: KubeObject = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'ServiceEntry',
  metadata: meta('cnn'),
  spec: { hosts: [HOST] },
};

const seParent = { kind: 'ServiceEntry', group: 'networking.istio.io', name: 'cnn' };

const toGateway: KubeObject = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: meta('direct-cnn-to-egress-gateway'),
  spec: {
    parentRefs: [seParent],
    rules: [{ backendRefs: [{ name: 'cnn-egress-gateway-istio', port: 80 }] }],
  },
};

const fromGateway: KubeObject = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: meta('forward-cnn-from-egress-gateway'),
  spec: {
    parentRefs: [{ name: 'cnn-egress-gateway', sectionName: 'http' }],
    hostnames: [HOST],
    rules: [
      { backendRefs: [{ kind: 'Hostname', group: 'networking.istio.io', name: HOST, port: 80 }] },
    ],
  },
};

const tlsRoute: KubeObject = {
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'TLSRoute',
  metadata: meta('forward-cnn-tls'),
  spec: {
    parentRefs: [{ name: 'cnn-egress-gateway' }],
    hostnames: [HOST],
    rules: [
      { backendRefs: [{ kind: 'Hostname', group: 'networking.istio.io', name: HOST, port: 443 }] },
    ],
  },
};

const cluster = (extra: Record<string, KubeObject[]> = {}) =>
  view({
    [GATEWAY_KEY]: [gateway],
    ServiceEntry: [serviceEntry],
    HTTPRoute: [toGateway, fromGateway],
    TLSRoute: [tlsRoute],
    ...extra,
  });

const healthy = { ignoreHostnameBackends: false };

describe('Gateway API as the data plane sees it', () => {
  it('a Gateway of class istio becomes an Istio Gateway on its own pods, one server per listener', () => {
    const [translated, ...others] = withGatewayApi(cluster(), healthy).list('Gateway', NS);
    expect(others).toEqual([]);
    expect(translated?.metadata.annotations?.[TRANSLATED_FROM]).toBe('Gateway/cnn-egress-gateway');
    expect(translated?.spec).toEqual({
      selector: { [ISTIO_GATEWAY_DEPLOYMENT.gatewayNameLabel]: 'cnn-egress-gateway' },
      servers: [
        { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: [`${NS}/${HOST}`] },
        {
          port: { number: 443, name: 'tls', protocol: 'TLS' },
          hosts: [`${NS}/${HOST}`],
          tls: { mode: 'PASSTHROUGH' },
        },
        {
          port: { number: 8443, name: 'https-mtls', protocol: 'HTTPS' },
          hosts: [`${NS}/${HOST}`],
          tls: { mode: 'ISTIO_MUTUAL' },
        },
      ],
    });
  });

  it('a Gateway of another class is not translated', () => {
    const other = { ...gateway, spec: { ...gateway.spec, gatewayClassName: 'other' } };
    expect(withGatewayApi(cluster({ [GATEWAY_KEY]: [other] }), healthy).list('Gateway')).toEqual(
      [],
    );
  });

  it('a route on the ServiceEntry binds to the sidecars; one on the Gateway sends to the Hostname backend', () => {
    const services = withGatewayApi(cluster(), healthy).list('VirtualService', NS);
    const byRoute = (route: string) =>
      services.find(
        (service) => service.metadata.annotations?.[TRANSLATED_FROM] === `HTTPRoute/${route}`,
      )?.spec;
    expect(byRoute('direct-cnn-to-egress-gateway')).toEqual({
      hosts: [HOST],
      gateways: ['mesh'],
      http: [
        {
          name: `${NS}.direct-cnn-to-egress-gateway.0`,
          route: [
            {
              destination: {
                host: `cnn-egress-gateway-istio.${NS}.svc.cluster.local`,
                port: { number: 80 },
              },
              weight: 1,
            },
          ],
        },
      ],
    });
    expect(byRoute('forward-cnn-from-egress-gateway')).toEqual({
      hosts: [HOST],
      gateways: [`${NS}/cnn-egress-gateway-istio-autogenerated-k8s-gateway`],
      http: [
        {
          name: `${NS}.forward-cnn-from-egress-gateway.0`,
          route: [{ destination: { host: HOST, port: { number: 80 } }, weight: 1 }],
        },
      ],
    });
  });

  it('a TLSRoute routes by SNI to its Hostname backend', () => {
    const tls = withGatewayApi(cluster(), healthy)
      .list('VirtualService', NS)
      .find(
        (service) => service.metadata.annotations?.[TRANSLATED_FROM] === 'TLSRoute/forward-cnn-tls',
      );
    expect(tls?.spec).toEqual({
      hosts: [HOST],
      gateways: [`${NS}/cnn-egress-gateway-istio-autogenerated-k8s-gateway`],
      tls: [
        {
          match: [{ sniHosts: [HOST] }],
          route: [{ destination: { host: HOST, port: { number: 443 } }, weight: 1 }],
        },
      ],
    });
  });

  it('a route whose parent Gateway does not exist binds to nothing', () => {
    const services = withGatewayApi(cluster({ [GATEWAY_KEY]: [] }), healthy).list('VirtualService');
    expect(services.map((service) => service.metadata.annotations?.[TRANSLATED_FROM])).toEqual([
      'HTTPRoute/direct-cnn-to-egress-gateway',
    ]);
  });

  it('hostname-backend-ignored: the gateway drops Hostname backends (HTTP answers 500, TLS has no route); the sidecars are unaffected', () => {
    const services = withGatewayApi(cluster(), { ignoreHostnameBackends: true }).list(
      'VirtualService',
      NS,
    );
    const byRoute = (route: string) =>
      services.find((service) => service.metadata.annotations?.[TRANSLATED_FROM] === route)?.spec;
    expect(byRoute('HTTPRoute/forward-cnn-from-egress-gateway')?.http).toEqual([
      { name: `${NS}.forward-cnn-from-egress-gateway.0`, directResponse: { status: 500 } },
    ]);
    expect(byRoute('TLSRoute/forward-cnn-tls')?.tls).toEqual([]);
    expect(byRoute('HTTPRoute/direct-cnn-to-egress-gateway')?.http).toHaveLength(1);
  });

  it('keeps the stored objects and finds a translated one by name', () => {
    const combined = withGatewayApi(cluster(), healthy);
    expect(combined.list('ServiceEntry')).toEqual([serviceEntry]);
    expect(
      combined.get('Gateway', NS, 'cnn-egress-gateway-istio-autogenerated-k8s-gateway')?.kind,
    ).toBe('Gateway');
  });
});
