/**
 * What Istio's validating webhook rejects, and how the API server reports it, for the kinds
 * the suites apply (ServiceEntry, Gateway, VirtualService, DestinationRule).
 *
 * Sources, all identical on istio/istio release-1.29, release-1.30 and release-1.31 (line
 * numbers are release-1.31's): `pkg/config/validation/validation.go` (V below),
 * `pkg/config/validation/virtualservice.go` (VS), `pkg/config/validation/agent/validation.go`
 * (A), `pkg/webhooks/validation/server/server.go`, and the charts under
 * `manifests/charts/base/templates/` and `manifests/charts/istio-control/istio-discovery/templates/`.
 */

/**
 * The webhook that answers for objects without an `istio.io/rev` label: the default
 * revision's `istiod-default-validator` (base chart, `defaultRevision: "default"`), calling
 * service istio-system/istiod at /validate for CREATE and UPDATE of every resource (not
 * subresource) in these groups. The per-revision `rev.validation.istio.io` only matches
 * objects labelled `istio.io/rev`. The simulated API server calls it while an istiod Service
 * (label `app: istiod`, `manifests/charts/istio-control/istio-discovery/templates/service.yaml`)
 * exists, and names it `validation.istio.io` whichever revision answers. Source:
 * `manifests/charts/base/templates/defaultrevision-validatingwebhookconfiguration.yaml`,
 * `manifests/charts/istio-control/istio-discovery/templates/validatingwebhookconfiguration.yaml`.
 */
export const ISTIO_VALIDATION_WEBHOOK = {
  name: 'validation.istio.io',
  service: { namespace: 'istio-system', name: 'istiod', path: '/validate', label: 'app=istiod' },
  groups: ['security.istio.io', 'networking.istio.io', 'telemetry.istio.io', 'extensions.istio.io'],
  operations: ['CREATE', 'UPDATE'],
} as const;

/**
 * The webhook's answer to an invalid object: `configuration is invalid: <err>` (server.go
 * `validate`: `toAdmissionResponse(fmt.Errorf("configuration is invalid: %v", err))`), the
 * same with or without dryRun (the "(dry run)" suffix goes to istiod's log only).
 */
export function istioInvalidConfiguration(error: string): string {
  return `configuration is invalid: ${error}`;
}

/**
 * How several errors print: Istio joins them with hashicorp/go-multierror (A
 * `AppendValidation`/`AppendErrors`: a single error stays itself; two or more become a
 * `*multierror.Error`, flattened), whose default `ListFormatFunc` prints
 * "N errors occurred:\n\t* e1\n\t* e2\n\n" ("1 error occurred:" for a one-element list,
 * which `multierror.Append(nil, e)` makes).
 */
export function multierrorText(errors: readonly string[]): string {
  if (errors.length === 1) return `1 error occurred:\n\t* ${errors[0] ?? ''}\n\n`;
  return `${errors.length} errors occurred:\n\t${errors.map((e) => `* ${e}`).join('\n\t')}\n\n`;
}

/** The messages the modelled rules produce, each with its source line. */
export const ISTIO_VALIDATION_MESSAGES = {
  // Metadata (V 206–248, validateMetadata / checkDryRunAnnotation).
  alwaysReject: (annotation: string) => `"${annotation}" annotation found, rejecting`, // V 215
  internalAnnotation: (annotation: string) =>
    `"${annotation}" annotation found, this may not be set by users`, // V 219, 223
  dryRunAnnotation: (namespace: string, name: string) =>
    `${namespace}/${name} has unsupported annotation istio.io/dry-run, please remove the annotation`, // V 232
  // Hosts (A).
  portRange: (port: number) => `port number ${port} must be in the range 1..65535`, // A 182
  domainTooLong: (name: string) => `domain name "${name}" too long (max 255)`, // A 188
  emptyDomain: 'empty domain name not allowed', // A 191
  numericTld: (domain: string, tld: string) =>
    `domain name "${domain}" invalid (top level domain "${tld}" cannot be all-numeric)`, // A 200
  invalidLabel: (domain: string, label: string) =>
    `domain name "${domain}" invalid (label "${label}" invalid)`, // A 208, 744
  shortName: 'short names (non FQDN) are not allowed', // A 1004
  partialWildcard: (host: string) => `partial wildcard "${host}" not allowed`, // A 994
  emptyNamespaceOrHost: 'config namespace and dnsName in host entry cannot be empty', // A 1037
  gatewayHostNamespace: (namespace: string) => `invalid namespace value "${namespace}" in gateway`, // A 1050
  invalidIp: (address: string) => `${address} is not a valid IP`, // A 986
  invalidCidr: (subnet: string) => `${subnet} is not a valid CIDR block`, // A 1064
  // Gateway (V 409–658).
  gatewayName: (name: string) => `invalid gateway name: "${name}"`, // V 420
  noServers: 'gateway must have at least one server', // V 429
  duplicatePortName: (name: string) =>
    `port names in servers must be unique: duplicate name ${name}`, // V 446
  noServerHosts: 'server config must contain at least one host', // V 463
  tlsRequired: 'server must have TLS settings for HTTPS/TLS protocols', // V 479
  tlsOnHttp: 'server cannot have TLS settings for plain text HTTP ports', // V 485
  tlsOnPlain: 'server cannot have TLS settings for non HTTPS/TLS ports', // V 488
  portRequired: 'port is required', // V 497
  invalidProtocol: (protocol: string) =>
    `invalid protocol "${protocol}", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP`, // V 500
  gatewayTargetPort: 'targetPort has no impact on Gateways', // V 507
  // `%v` of the Port message: Go's prototext, whose spacing is deliberately unstable.
  portNameUnset: (port: string) => `port name must be set: ${port}`, // V 511
  istioMutualWith: (what: string) => `ISTIO_MUTUAL TLS cannot have associated ${what}`, // V 559–576
  oneCertificateSource:
    'only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified', // V 607
  clientCaRequired: (prefix: string) => `${prefix} requires a client CA bundle`, // V 633
  serverCertificateRequired: (prefix: string) => `${prefix} requires a server certificate`, // V 641
  privateKeyRequired: (prefix: string) => `${prefix} requires a private key`, // V 644
  crlWithCredential:
    'CRL is not supported with credentialName. CRL has to be specified in the credential', // V 650
  crlWithSimple: 'CRL is not supported with SIMPLE TLS', // V 653
  passthroughCertificates: (mode: string) =>
    `${mode} mode does not use certificates, they will be ignored`, // V 587, a warning
  httpsRedirectOnNonHttp: 'tls.httpsRedirect should only be used with http servers', // V 450, a warning
  serverNil: 'server may not be nil', // V 441
  // DestinationRule (V 660–688, 1060–1326, 2643–2651; A 280–333).
  duplicateSubset: (name: string) => `duplicate subset names: ${name}`, // V 678
  subsetNull: 'subset may not be null', // V 674
  portPolicyNull: 'traffic policy may not be null', // V 1308
  insecureSimple:
    'cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true', // A 298
  insecureMutual:
    'cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true', // A 306
  emptySubsetName: 'subset name cannot be empty', // V 2645
  invalidSubsetName: (name: string) => `subset name is invalid: ${name}`, // V 2648
  emptyTrafficPolicy: 'traffic policy must have at least one field', // V 1067
  tunnelAndProxyProtocol: 'tunnel and proxyProtocol must not be set together', // V 1071
  portPolicyPort: 'portTrafficPolicy must have valid port', // V 1312
  emptyPortPolicy: 'port traffic policy must have at least one field', // V 1316
  credentialWithCertificates:
    'cannot specify client certificates or CA certificate or CA CRL If credentialName is set', // A 315
  mutualClientCertificate: 'client certificate required for mutual tls', // A 325
  mutualPrivateKey: 'private key required for mutual tls', // A 328
  // VirtualService (V 1768–1892, 2255–2495, 2622–2662; VS 28–245).
  delegateGateways: 'delegate virtual service must have no gateways specified', // V 1779
  delegateTls: 'delegate virtual service must have no tls route specified', // V 1783
  delegateTcp: 'delegate virtual service must have no tcp route specified', // V 1787
  meshWildcard: 'wildcard host * is not allowed for virtual services bound to the mesh gateway', // V 1833
  duplicateHosts: (a: string, b: string) => `duplicate hosts in virtual service: ${a} & ${b}`, // V 1847
  noRoutes: 'http, tcp or tls must be provided in virtual service', // V 1854
  tlsNoMatch: 'TLS route must have at least one match condition', // V 2260
  tlsNoRoute: 'TLS route is required', // V 2266
  tlsNoSniHost: 'TLS match must have at least one SNI host', // V 2278
  tlsMatchNull: 'TLS match may not be null', // V 2274
  tcpMatchNull: 'tcp match may not be nil', // V 2338
  httpRouteNull: 'http route may not be null', // V 1858
  weightNull: 'weight may not be nil', // V 2432, 2479
  sniIpAddress: (sni: string) =>
    `using an IP address ("${sni}") goes against SNI spec and most clients do not support this`, // V 2307, a warning
  legacyGatewayName: (name: string, recommended: string) =>
    `using legacy gatewayName format "${name}"; prefer the <namespace>/<name> format: "${recommended}"`, // V 2406, a warning
  mirrorDestination: 'destination is required for mirrors', // V 2768
  unixAddressEmpty: 'unix address must not be empty', // V 392
  unixAddressPath: (address: string) => `${address} is not an absolute path to a file`, // V 403
  sniNotSubset: (sni: string, hosts: readonly string[]) =>
    `SNI host "${sni}" is not a compatible subset of any of the virtual service hosts: [${hosts.join(', ')}]`, // V 2318
  tcpNoRoute: 'TCP route is required', // V 2330
  destinationRequired: 'destination is required', // V 2436, 2483
  zeroTotalWeight: 'total destination weight = 0', // V 2470, 2492
  negativeWeight: (weight: number) => `weight ${weight} < 0`, // V 366
  destinationWildcard: (host: string) => `invalid destination host ${host}`, // V 2629
  gatewayNameEmpty: 'config namespace and gateway name cannot be empty', // V 2413
  gatewayNamespace: (namespace: string) => `invalid value for namespace: "${namespace}"`, // V 2418
  gatewayNamePart: (name: string) => `invalid value for gateway name: "${name}"`, // V 2422
  httpNoRoute: 'HTTP route, redirect or direct_response is required', // VS 243
  httpRouteAndRedirect: 'HTTP route cannot contain both route and redirect', // VS 212
  httpRouteAndDirectResponse: 'HTTP route cannot contain both route and direct_response', // VS 228
  sourceNamespace: (namespace: string) => `sourceNamespace match ${namespace} is invalid`, // VS 180
  // ServiceEntry (V 2951–3169, 3182–3197).
  workloadSelectorAndEndpoints:
    'only one of WorkloadSelector or Endpoints is allowed in Service Entry', // V 2973
  noServiceEntryHosts: 'service entry must have at least one host', // V 2977
  invalidHost: (host: string) => `invalid host ${host}`, // V 2982
  cidrResolution: 'CIDR addresses are allowed only for NONE/STATIC resolution types', // V 3000
  duplicateServiceEntryPortName: (name: string) =>
    `service entry port name "${name}" already defined`, // V 3014
  duplicateServiceEntryPort: (port: number) => `service entry port ${port} already defined`, // V 3017
  noneWithEndpoints: 'no endpoints should be provided for resolution type none', // V 3037
  dnsHostsFqdn: (resolution: string, error: string) =>
    `hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for resolution mode ${resolution}, ${error}`, // V 3055
  roundRobinEndpoints: (resolution: string) =>
    `there must only be 0 or 1 endpoint for resolution mode ${resolution}`, // V 3062
  endpointAddress: (address: string) =>
    `endpoint address "${address}" is not a valid FQDN or an IP address`, // V 3073
  multipleHostsPlainPorts: 'multiple hosts provided with non-HTTP, non-TLS ports', // V 3160
  invalidPortName: (name: string) => `invalid port name: ${name}`, // V 3184
  unsupportedProtocol: (protocol: string) => `unsupported protocol: ${protocol}`, // V 3193
} as const;

/**
 * Istio's protocol names (case-insensitive) and classes. Source: istio/istio
 * `pkg/config/protocol/instance.go` (`Parse`: lowercases the input and compares it with
 * "tcp", "udp", "grpc", "grpc-web", "http", "http_proxy", "http2", "https", "tls", "mongo",
 * "redis", "mysql", and with "DoubleHBONE", which a lowercased string never equals).
 */
export const ISTIO_PROTOCOLS = {
  parse: [
    'TCP',
    'UDP',
    'GRPC',
    'GRPC-Web',
    'HTTP',
    'HTTP_PROXY',
    'HTTP2',
    'HTTPS',
    'TLS',
    'Mongo',
    'Redis',
    'MySQL',
  ],
  http: ['HTTP', 'HTTP2', 'HTTP_PROXY', 'GRPC', 'GRPC-Web'],
  tls: ['HTTPS', 'TLS'],
  tcp: ['TCP', 'HTTPS', 'TLS', 'Mongo', 'Redis', 'MySQL'],
} as const;

/**
 * Enum fields left unset read as their first value: Server TLS mode PASSTHROUGH, client TLS
 * mode DISABLE, ServiceEntry resolution NONE and location MESH_EXTERNAL. Source:
 * istio/api `networking/v1alpha3/{gateway,destination_rule,service_entry}.proto` (value 0),
 * the same order as the CRD enums in `crd-all.gen.yaml`.
 */
export const ISTIO_ENUM_DEFAULTS = {
  serverTlsMode: 'PASSTHROUGH',
  clientTlsMode: 'DISABLE',
  resolution: 'NONE',
  location: 'MESH_EXTERNAL',
} as const;

/** Annotations the webhook refuses on any kind (pkg/config/constants/constants.go). */
export const ISTIO_REJECTED_ANNOTATIONS = {
  alwaysReject: 'internal.istio.io/webhook-always-reject',
  internal: ['internal.istio.io/parent-namespace', 'internal.istio.io/parents'],
  dryRun: 'istio.io/dry-run',
} as const;

/**
 * The `spec` properties of the Istio CRDs served (every version alike); the API
 * server prunes any other (structural schema, no `x-kubernetes-preserve-unknown-fields`).
 * Source: istio/istio `manifests/charts/base/files/crd-all.gen.yaml`, release-1.29 to
 * release-1.31.
 */
export const ISTIO_SPEC_FIELDS: Readonly<Record<string, readonly string[]>> = {
  ServiceEntry: [
    'addresses',
    'endpoints',
    'exportTo',
    'hosts',
    'location',
    'ports',
    'resolution',
    'subjectAltNames',
    'workloadSelector',
  ],
  Gateway: ['selector', 'servers'],
  VirtualService: ['exportTo', 'gateways', 'hosts', 'http', 'tcp', 'tls'],
  DestinationRule: ['exportTo', 'host', 'subsets', 'trafficPolicy', 'workloadSelector'],
  Sidecar: [
    'egress',
    'inboundConnectionPool',
    'ingress',
    'outboundTrafficPolicy',
    'workloadSelector',
  ],
  PeerAuthentication: ['mtls', 'portLevelMtls', 'selector'],
  AuthorizationPolicy: ['action', 'provider', 'rules', 'selector', 'targetRef', 'targetRefs'],
  Telemetry: ['accessLogging', 'metrics', 'selector', 'targetRef', 'targetRefs', 'tracing'],
};
