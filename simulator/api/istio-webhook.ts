/**
 * Istio's validating webhook (`validation.istio.io`) for the networking kinds the suites
 * apply: the checks of istio/istio `pkg/config/validation/validation.go` and
 * `virtualservice.go` (release-1.29 to release-1.31, unchanged), in their order, with their
 * messages (harness/facts/istio-validation.ts). Only the rules the modelled fields can
 * break are here; fields the suites never set (retries, CORS, fault injection, outlier
 * detection, connection pools, exportTo, workload selectors) pass unchecked.
 */
import {
  ISTIO_ENUM_DEFAULTS,
  ISTIO_REJECTED_ANNOTATIONS,
  ISTIO_VALIDATION_MESSAGES as M,
} from '../../harness/facts/istio-validation.ts';
import type { Json } from '../json.ts';
import type { KubeObject } from '../types.ts';
import {
  appendErrors,
  appendValidation,
  element,
  errorText,
  hostMatches,
  hostSubsetOf,
  isDNS1123Label,
  isHttpProtocol,
  isTlsProtocol,
  isValidIPAddress,
  list,
  message,
  multierrorAppend,
  NO_VALIDATION,
  num,
  parseProtocol,
  str,
  validateFQDN,
  validateGatewayBoundDomain,
  validateGatewayHost,
  validateIPAddress,
  validateIPSubnet,
  validateLabels,
  validatePort,
  validateSubsetName,
  validateWildcardDomain,
  warningList,
  wrapError,
  wrapWarning,
  type GoError,
  type Validation,
} from './istio-webhook-base.ts';
import { validateDestinationRule, validateServiceEntry } from './istio-webhook-services.ts';

/** What the webhook answers: the error text (rejected) and the warnings. */
export interface WebhookVerdict {
  error: string | undefined;
  warnings: string[];
}

/** Runs the webhook's `ValidateConfig` for a networking.istio.io object. */
export function validateIstioConfig(object: KubeObject): WebhookVerdict {
  const metadataError = validateMetadata(object);
  if (metadataError !== undefined) return { error: metadataError, warnings: [] };
  const spec = message(object.spec) ?? {};
  const namespace = object.metadata.namespace ?? '';
  let result: Validation;
  switch (object.kind) {
    case 'Gateway':
      result = validateGateway(object.metadata.name, spec);
      break;
    case 'VirtualService':
      result = validateVirtualService(spec);
      break;
    case 'DestinationRule':
      result = validateDestinationRule(namespace, spec);
      break;
    case 'ServiceEntry':
      result = validateServiceEntry(spec);
      break;
    default:
      result = NO_VALIDATION;
  }
  return {
    error: result.err === undefined ? undefined : errorText(result.err),
    warnings: warningList(result.warning),
  };
}

/** validateMetadata (V 206): annotations no user object may carry. */
function validateMetadata(object: KubeObject): string | undefined {
  const annotations = object.metadata.annotations ?? {};
  if (ISTIO_REJECTED_ANNOTATIONS.dryRun in annotations && object.kind !== 'AuthorizationPolicy')
    return M.dryRunAnnotation(object.metadata.namespace ?? '', object.metadata.name);
  if (ISTIO_REJECTED_ANNOTATIONS.alwaysReject in annotations)
    return M.alwaysReject(ISTIO_REJECTED_ANNOTATIONS.alwaysReject);
  for (const annotation of ISTIO_REJECTED_ANNOTATIONS.internal)
    if (annotation in annotations) return M.internalAnnotation(annotation);
  return undefined;
}

// ---- Gateway (V 409–658) --------------------------------------------------------------

function validateGateway(name: string, spec: Json): Validation {
  let v = NO_VALIDATION;
  if (!isDNS1123Label(name)) v = appendValidation(v, M.gatewayName(name));
  const servers = list(spec.servers);
  if (servers.length === 0) v = appendValidation(v, M.noServers);
  else for (const server of servers) v = appendValidation(v, validateServer(element(server)));
  const portNames = new Set<string>();
  for (const raw of servers) {
    const server = element(raw);
    if (server === undefined) {
      v = appendValidation(v, M.serverNil);
      continue;
    }
    const port = message(server.port);
    if (port === undefined) continue;
    if (portNames.has(str(port.name))) v = appendValidation(v, M.duplicatePortName(str(port.name)));
    portNames.add(str(port.name));
    if (
      !isHttpProtocol(parseProtocol(port.protocol)) &&
      message(server.tls)?.httpsRedirect === true
    )
      v = appendValidation(v, wrapWarning(M.httpsRedirectOnNonHttp));
  }
  return v;
}

function validateServer(server: Json | undefined): Validation {
  if (server === undefined) return wrapError('cannot have nil server');
  let v = NO_VALIDATION;
  const hosts = list(server.hosts);
  if (hosts.length === 0) v = appendValidation(v, M.noServerHosts);
  else for (const host of hosts) v = appendValidation(v, validateGatewayHost(str(host)));
  const port = message(server.port);
  const bind = str(server.bind);
  const portErr = validateServerPort(port, bind);
  v = appendValidation(v, portErr);
  v = appendValidation(v, validateServerBind(port, bind));
  const tls = message(server.tls);
  v = appendValidation(v, validateServerTls(tls));
  if (portErr.err === undefined && port !== undefined) {
    const protocol = parseProtocol(port.protocol);
    if (isTlsProtocol(protocol) && tls === undefined) v = appendValidation(v, M.tlsRequired);
    else if (!isTlsProtocol(protocol) && tls !== undefined) {
      if (isHttpProtocol(protocol)) {
        const mode = str(tls.mode) || ISTIO_ENUM_DEFAULTS.serverTlsMode;
        const passthrough = mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH';
        if (
          !passthrough ||
          str(tls.caCertificates) ||
          str(tls.privateKey) ||
          str(tls.serverCertificate)
        )
          v = appendValidation(v, M.tlsOnHttp);
      } else v = appendValidation(v, M.tlsOnPlain);
    }
  }
  return v;
}

/** `%v` of a networking.Port: prototext, fields in number order, zero values left out. */
function portText(port: Json): string {
  const fields: string[] = [];
  if (num(port.number) !== 0) fields.push(`number:${num(port.number)}`);
  if (str(port.protocol)) fields.push(`protocol:${JSON.stringify(str(port.protocol))}`);
  if (str(port.name)) fields.push(`name:${JSON.stringify(str(port.name))}`);
  if (num(port.targetPort) !== 0) fields.push(`target_port:${num(port.targetPort)}`);
  return fields.join(' ');
}

function validateServerPort(port: Json | undefined, bind: string): Validation {
  if (port === undefined) return wrapError(M.portRequired);
  let errs = NO_VALIDATION;
  if (parseProtocol(port.protocol) === undefined)
    errs = appendValidation(errs, M.invalidProtocol(str(port.protocol)));
  if (num(port.number) > 0 || !bind.startsWith('unix://'))
    errs = appendValidation(errs, validatePort(num(port.number)));
  if (num(port.targetPort) > 0) errs = appendValidation(errs, M.gatewayTargetPort);
  if (str(port.name) === '') errs = appendValidation(errs, M.portNameUnset(portText(port)));
  return errs;
}

function validateServerBind(port: Json | undefined, bind: string): GoError {
  if (bind.startsWith('unix://')) {
    const address = bind.slice('unix://'.length);
    let errs: GoError;
    if (address === '') errs = appendErrors(errs, M.unixAddressEmpty);
    else if (!address.startsWith('@') && (!address.startsWith('/') || address.endsWith('/')))
      errs = appendErrors(errs, M.unixAddressPath(address));
    if (port !== undefined && num(port.number) !== 0)
      errs = appendErrors(errs, `port number must be 0 for unix domain socket: ${portText(port)}`);
    return errs;
  }
  return bind === '' ? undefined : validateIPAddress(bind);
}

/** validateTLSOptions (V 528), cipher-suite warnings aside. */
function validateServerTls(tls: Json | undefined): Validation {
  if (tls === undefined) return NO_VALIDATION;
  let v = NO_VALIDATION;
  const mode = str(tls.mode) || ISTIO_ENUM_DEFAULTS.serverTlsMode;
  const has = (field: string): boolean =>
    Array.isArray(tls[field]) ? list(tls[field]).length > 0 : str(tls[field]) !== '';
  if (mode === 'ISTIO_MUTUAL') {
    const associated: [string, string][] = [
      ['serverCertificate', 'server certificate'],
      ['privateKey', 'private key'],
      ['caCertificates', 'CA bundle'],
      ['tlsCertificates', 'tlsCertificates'],
      ['credentialName', 'credentialName'],
      ['credentialNames', 'credentialNames'],
    ];
    for (const [field, what] of associated)
      if (has(field)) v = appendValidation(v, M.istioMutualWith(what));
    return v;
  }
  const certificateFields = ['caCrl', 'serverCertificate', 'privateKey', 'caCertificates'];
  const anyCertificate =
    certificateFields.some(has) ||
    has('tlsCertificates') ||
    has('credentialName') ||
    has('credentialNames');
  if ((mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') && anyCertificate)
    v = appendValidation(v, wrapWarning(M.passthroughCertificates(mode)));
  const sources = [
    has('serverCertificate') && has('privateKey'),
    has('credentialName'),
    has('credentialNames'),
    has('tlsCertificates'),
  ].filter(Boolean).length;
  if (sources > 1) v = appendValidation(v, M.oneCertificateSource);
  const terminating = mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL';
  if (terminating && (has('credentialName') || has('credentialNames'))) return v;
  if (terminating) {
    const prefix = mode === 'SIMPLE' ? 'SIMPLE TLS' : 'MUTUAL TLS';
    if (prefix === 'MUTUAL TLS' && !has('caCertificates'))
      v = appendValidation(v, M.clientCaRequired(prefix));
    const certificates = has('tlsCertificates')
      ? list(tls.tlsCertificates).map((entry) => element(entry) ?? {})
      : [{ serverCertificate: tls.serverCertificate, privateKey: tls.privateKey }];
    for (const certificate of certificates) {
      if (str(certificate.serverCertificate) === '')
        v = appendValidation(v, M.serverCertificateRequired(prefix));
      if (str(certificate.privateKey) === '') v = appendValidation(v, M.privateKeyRequired(prefix));
    }
  }
  if (has('caCrl')) {
    if (has('credentialName')) v = appendValidation(v, M.crlWithCredential);
    if (mode === 'SIMPLE') v = appendValidation(v, M.crlWithSimple);
  }
  return v;
}

// ---- VirtualService (V 1768–1892, 2255–2495; VS) --------------------------------------

function isGatewayBound(vs: Json): boolean {
  return !list(vs.gateways).includes('mesh');
}

function validateVirtualService(vs: Json): Validation {
  let errs = NO_VALIDATION;
  const hosts = list(vs.hosts).map(str);
  const gateways = list(vs.gateways).map(str);
  if (hosts.length === 0) {
    if (gateways.length !== 0) errs = appendValidation(errs, M.delegateGateways);
    if (list(vs.tls).length !== 0) errs = appendValidation(errs, M.delegateTls);
    if (list(vs.tcp).length !== 0) errs = appendValidation(errs, M.delegateTcp);
  }
  let appliesToGateway = false;
  let appliesToMesh = true;
  if (gateways.length > 0) {
    errs = appendValidation(errs, validateGatewayNames(gateways));
    appliesToGateway = isGatewayBound(vs);
    appliesToMesh = !appliesToGateway;
  }
  const sniHosts = list(vs.tls).some((route) =>
    list(element(route)?.match).some((match) => list(element(match)?.sniHosts).length > 0),
  );
  let allHostsValid = true;
  for (const host of hosts) {
    const err = appliesToGateway
      ? validateGatewayBoundDomain(sniHosts, host)
      : validateWildcardDomain(host);
    if (err !== undefined) {
      if (!isValidIPAddress(host)) {
        errs = appendValidation(errs, err);
        allHostsValid = false;
      }
    } else if (appliesToMesh && host === '*') {
      errs = appendValidation(errs, M.meshWildcard);
      allHostsValid = false;
    }
  }
  if (allHostsValid)
    for (let i = 0; i < hosts.length; i += 1)
      for (let j = i + 1; j < hosts.length; j += 1)
        if (hostMatches(hosts[i] ?? '', hosts[j] ?? ''))
          errs = appendValidation(errs, M.duplicateHosts(hosts[i] ?? '', hosts[j] ?? ''));
  if (list(vs.http).length === 0 && list(vs.tcp).length === 0 && list(vs.tls).length === 0)
    errs = appendValidation(errs, M.noRoutes);
  for (const route of list(vs.http)) {
    const http = element(route);
    errs = appendValidation(
      errs,
      http === undefined ? M.httpRouteNull : validateHttpRoute(http, hosts.length === 0),
    );
  }
  for (const route of list(vs.tls))
    errs = appendValidation(errs, validateTlsRoute(element(route), vs));
  for (const route of list(vs.tcp)) errs = appendValidation(errs, validateTcpRoute(element(route)));
  return errs;
}

function validateGatewayNames(names: readonly string[]): Validation {
  let errs = NO_VALIDATION;
  for (const name of names) {
    const slash = name.indexOf('/');
    if (slash < 0) {
      if (name.includes('.')) {
        const parts = name.split('.');
        const recommended = `${parts[1] ?? ''}/${parts[0] ?? ''}`;
        errs = appendValidation(errs, wrapWarning(M.legacyGatewayName(name, recommended)));
      }
      // As upstream: the first name without a namespace ends the loop.
      return appendValidation(errs, validateFQDN(name));
    }
    const namespace = name.slice(0, slash);
    const gateway = name.slice(slash + 1);
    if (namespace === '' || gateway === '') errs = appendValidation(errs, M.gatewayNameEmpty);
    if (!isDNS1123Label(namespace)) errs = appendValidation(errs, M.gatewayNamespace(namespace));
    if (!isDNS1123Label(gateway)) errs = appendValidation(errs, M.gatewayNamePart(gateway));
  }
  return errs;
}

function validateHttpRoute(http: Json, delegate: boolean): Validation {
  let errs = wrapError(validateHttpRouteConflict(http, delegate));
  errs = appendValidation(errs, validateHttpMatches(http));
  errs = appendValidation(errs, validateDestination(message(http.mirror)));
  for (const raw of list(http.mirrors)) {
    const mirror = element(raw);
    if (mirror === undefined) errs = appendValidation(errs, 'mirror cannot be null');
    else if (message(mirror.destination) === undefined)
      errs = appendValidation(errs, M.mirrorDestination);
    else errs = appendValidation(errs, validateDestination(message(mirror.destination)));
  }
  return appendValidation(errs, validateRouteDestinations(list(http.route)));
}

/** validateHTTPRouteConflict (VS 184). */
function validateHttpRouteConflict(http: Json, delegate: boolean): GoError {
  let errs: GoError;
  const routes = list(http.route).length;
  if (!delegate && message(http.delegate) !== undefined) {
    if (message(http.redirect) !== undefined)
      errs = appendErrors(errs, `root HTTP route ${str(http.name)} must not specify redirect`);
    if (list(http.route).length > 0)
      errs = appendErrors(errs, `root HTTP route ${str(http.name)} must not specify route`);
    return errs;
  }
  if (delegate && message(http.delegate) !== undefined)
    errs = appendErrors(errs, 'delegate HTTP route cannot contain delegate');
  if (message(http.redirect) !== undefined) {
    if (routes > 0) errs = appendErrors(errs, M.httpRouteAndRedirect);
  } else if (message(http.directResponse) !== undefined) {
    if (routes > 0) errs = appendErrors(errs, M.httpRouteAndDirectResponse);
  } else if (routes === 0) errs = appendErrors(errs, M.httpNoRoute);
  if (message(http.mirror) !== undefined && list(http.mirrors).length > 0)
    errs = appendErrors(errs, 'HTTP route cannot contain both mirror and mirrors');
  return errs;
}

/** The port, label, gateway and namespace checks of validateHTTPRouteMatchRequest (VS 166). */
function validateHttpMatches(http: Json): GoError {
  let errs: GoError;
  for (const raw of list(http.match)) {
    const match = element(raw);
    if (match === undefined) continue;
    if (num(match.port) !== 0) errs = appendErrors(errs, validatePort(num(match.port)));
    errs = appendErrors(errs, validateLabels(match.sourceLabels));
    errs = appendErrors(errs, validateGatewayNames(list(match.gateways).map(str)));
    const sourceNamespace = str(match.sourceNamespace);
    if (sourceNamespace !== '' && !isDNS1123Label(sourceNamespace))
      errs = appendErrors(errs, M.sourceNamespace(sourceNamespace));
  }
  return errs;
}

function validateTlsRoute(tls: Json | undefined, vs: Json): Validation {
  if (tls === undefined) return NO_VALIDATION;
  let errs = NO_VALIDATION;
  if (list(tls.match).length === 0) errs = appendValidation(errs, M.tlsNoMatch);
  for (const match of list(tls.match))
    errs = appendValidation(errs, validateTlsMatch(element(match), vs));
  if (list(tls.route).length === 0) errs = appendValidation(errs, M.tlsNoRoute);
  return appendValidation(errs, validateRouteDestinations(list(tls.route)));
}

function validateTlsMatch(match: Json | undefined, vs: Json): Validation {
  if (match === undefined) return wrapError(M.tlsMatchNull);
  let errs = NO_VALIDATION;
  const sniHosts = list(match.sniHosts).map(str);
  if (sniHosts.length === 0) errs = appendValidation(errs, M.tlsNoSniHost);
  else for (const sni of sniHosts) errs = appendValidation(errs, validateSniHost(sni, vs));
  for (const subnet of list(match.destinationSubnets))
    errs = appendValidation(errs, validateIPSubnet(str(subnet)));
  if (num(match.port) !== 0) errs = appendValidation(errs, validatePort(num(match.port)));
  errs = appendValidation(errs, validateLabels(match.sourceLabels));
  return appendValidation(errs, validateGatewayNames(list(match.gateways).map(str)));
}

function validateSniHost(sni: string, vs: Json): Validation {
  const err = isGatewayBound(vs)
    ? validateGatewayBoundDomain(true, sni)
    : validateWildcardDomain(sni);
  if (err !== undefined) {
    if (isValidIPAddress(sni)) return wrapWarning(M.sniIpAddress(sni));
    return wrapError(err);
  }
  const hosts = list(vs.hosts).map(str);
  if (hosts.some((host) => hostSubsetOf(sni, host))) return NO_VALIDATION;
  return wrapError(M.sniNotSubset(sni, hosts));
}

function validateTcpRoute(tcp: Json | undefined): GoError {
  if (tcp === undefined) return undefined;
  let errs: GoError;
  for (const raw of list(tcp.match)) {
    const match = element(raw);
    if (match === undefined) {
      errs = appendErrors(errs, multierrorAppend(undefined, M.tcpMatchNull));
      continue;
    }
    for (const subnet of list(match.destinationSubnets))
      errs = appendErrors(errs, validateIPSubnet(str(subnet)));
    if (num(match.port) !== 0) errs = appendErrors(errs, validatePort(num(match.port)));
    errs = appendErrors(errs, validateLabels(match.sourceLabels));
    errs = appendErrors(errs, validateGatewayNames(list(match.gateways).map(str)));
  }
  if (list(tcp.route).length === 0) errs = appendErrors(errs, M.tcpNoRoute);
  return appendErrors(errs, validateRouteDestinations(list(tcp.route)));
}

/** validateRouteDestinations / validateHTTPRouteDestinations (header checks aside). */
function validateRouteDestinations(weights: unknown[]): GoError {
  let errs: GoError;
  let total = 0;
  for (const raw of weights) {
    const weight = element(raw);
    if (weight === undefined) {
      errs = multierrorAppend(errs, M.weightNull);
      continue;
    }
    const destination = message(weight.destination);
    if (destination === undefined) errs = multierrorAppend(errs, M.destinationRequired);
    errs = appendErrors(errs, validateDestination(destination));
    if (num(weight.weight) < 0) errs = appendErrors(errs, M.negativeWeight(num(weight.weight)));
    total += num(weight.weight);
  }
  if (weights.length > 1 && total === 0) errs = appendErrors(errs, M.zeroTotalWeight);
  return errs;
}

function validateDestination(destination: Json | undefined): GoError {
  if (destination === undefined) return undefined;
  let errs: GoError;
  const host = str(destination.host);
  if (host === '*') errs = appendErrors(errs, M.destinationWildcard(host));
  else errs = appendErrors(errs, validateWildcardDomain(host));
  const subset = str(destination.subset);
  if (subset !== '') errs = appendErrors(errs, validateSubsetName(subset));
  const port = message(destination.port);
  if (port !== undefined) errs = appendErrors(errs, validatePort(num(port.number)));
  return errs;
}
