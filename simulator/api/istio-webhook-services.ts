/**
 * The webhook's ServiceEntry and DestinationRule checks: istio/istio
 * `pkg/config/validation/validation.go` `ValidateServiceEntry` (V 2951) and
 * `ValidateDestinationRule` (V 660) with `validateTrafficPolicy`, `validateSubset`,
 * `validatePortTrafficPolicies` and agent `ValidateTLS` (release-1.29 to release-1.31).
 */
import {
  ISTIO_ENUM_DEFAULTS,
  ISTIO_VALIDATION_MESSAGES as M,
} from '../../harness/facts/istio-validation.ts';
import type { Json } from '../json.ts';
import {
  appendErrors,
  appendValidation,
  element,
  isDNS1123Label,
  isHttpProtocol,
  isTlsProtocol,
  isValidIPAddress,
  list,
  message,
  NO_VALIDATION,
  num,
  parseProtocol,
  str,
  validateFQDN,
  validateIPSubnet,
  validateLabels,
  validatePartialWildcard,
  validatePort,
  validateSubsetName,
  validateWildcardDomain,
  wrapError,
  wrapWarning,
  type GoError,
  type Validation,
} from './istio-webhook-base.ts';

// ---- ServiceEntry ---------------------------------------------------------------------

export function validateServiceEntry(se: Json): Validation {
  let errs = NO_VALIDATION;
  const resolution = str(se.resolution) || ISTIO_ENUM_DEFAULTS.resolution;
  const hosts = list(se.hosts).map(str);
  const endpoints = list(se.endpoints);
  const addresses = list(se.addresses).map(str);
  if (message(se.workloadSelector) !== undefined && endpoints.length > 0)
    errs = appendValidation(errs, M.workloadSelectorAndEndpoints);
  if (hosts.length === 0) errs = appendValidation(errs, M.noServiceEntryHosts);
  for (const host of hosts) {
    if (host === '*') errs = appendValidation(errs, M.invalidHost(host));
    else {
      errs = appendValidation(errs, validateWildcardDomain(host));
      if (resolution !== 'DYNAMIC_DNS')
        errs = appendValidation(errs, wrapWarning(validatePartialWildcard(host)));
    }
  }
  const cidr = addresses.some((address) => address.includes('/'));
  for (const address of addresses) errs = appendValidation(errs, validateIPSubnet(address));
  if (cidr && resolution !== 'NONE' && resolution !== 'STATIC')
    errs = appendValidation(errs, M.cidrResolution);
  const names = new Set<string>();
  const numbers = new Set<number>();
  for (const raw of list(se.ports)) {
    const port = element(raw);
    if (port === undefined) {
      errs = appendValidation(errs, 'service entry port may not be null');
      continue;
    }
    const name = str(port.name);
    if (names.has(name)) errs = appendValidation(errs, M.duplicateServiceEntryPortName(name));
    names.add(name);
    if (numbers.has(num(port.number)))
      errs = appendValidation(errs, M.duplicateServiceEntryPort(num(port.number)));
    numbers.add(num(port.number));
    if (num(port.targetPort) !== 0)
      errs = appendValidation(errs, validatePort(num(port.targetPort)));
    errs = appendValidation(
      errs,
      isDNS1123Label(name) ? undefined : M.invalidPortName(name),
      str(port.protocol) !== '' && parseProtocol(port.protocol) === undefined
        ? M.unsupportedProtocol(str(port.protocol))
        : undefined,
      validatePort(num(port.number)),
    );
  }
  errs = appendValidation(errs, validateResolution(se, resolution, hosts, endpoints, names));
  if (resolution !== 'NONE' && hosts.length > 1) {
    for (const raw of list(se.ports)) {
      const port = element(raw);
      if (port === undefined) {
        errs = appendValidation(errs, 'ports cannot be nil');
        continue;
      }
      const protocol = parseProtocol(port.protocol);
      if (!isHttpProtocol(protocol) && !isTlsProtocol(protocol)) {
        errs = appendValidation(errs, M.multipleHostsPlainPorts);
        break;
      }
    }
  }
  return errs;
}

function validateResolution(
  se: Json,
  resolution: string,
  hosts: readonly string[],
  endpoints: readonly unknown[],
  portNames: ReadonlySet<string>,
): Validation {
  let errs = NO_VALIDATION;
  switch (resolution) {
    case 'NONE':
      if (endpoints.length !== 0) errs = appendValidation(errs, M.noneWithEndpoints);
      if (message(se.workloadSelector) !== undefined)
        errs = appendValidation(
          errs,
          wrapWarning('workloadSelector should not be set when resolution mode is NONE'),
        );
      break;
    case 'STATIC':
      for (const raw of endpoints) {
        const endpoint = element(raw);
        if (endpoint === undefined) {
          errs = appendValidation(errs, 'endpoint cannot be nil');
          continue;
        }
        // validateWorkloadEntry(endpoint, ports, allowFQDNAddresses=false) (V 2823).
        const address = str(endpoint.address);
        if (address === '' && str(endpoint.network) === '')
          errs = appendValidation(errs, 'address is required');
        else if (address !== '' && !address.startsWith('unix://') && !isValidIPAddress(address))
          errs = appendValidation(errs, `endpoint address "${address}" is not a valid IP address`);
        errs = appendValidation(errs, validateEndpointPorts(endpoint, portNames));
        errs = appendValidation(errs, validateLabels(endpoint.labels));
      }
      break;
    case 'DNS':
    case 'DNS_ROUND_ROBIN':
      if (endpoints.length === 0) {
        for (const host of hosts) {
          const error = validateFQDN(host);
          if (error !== undefined) {
            errs = appendValidation(errs, M.dnsHostsFqdn(resolution, String(error)));
            break;
          }
        }
      }
      if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1)
        errs = appendValidation(errs, M.roundRobinEndpoints(resolution));
      for (const raw of endpoints) {
        const endpoint = element(raw);
        if (endpoint === undefined) {
          errs = appendValidation(errs, 'endpoint cannot be nil');
          continue;
        }
        const address = str(endpoint.address);
        if (!isValidIPAddress(address) && validateFQDN(address) !== undefined)
          errs = appendValidation(errs, M.endpointAddress(address));
        errs = appendValidation(errs, validateLabels(endpoint.labels));
        errs = appendValidation(errs, validateEndpointPorts(endpoint, portNames));
      }
      break;
    case 'DYNAMIC_DNS':
      for (const host of hosts)
        if (!host.startsWith('*'))
          errs = appendValidation(
            errs,
            `host must be wildcarded for resolution mode ${resolution}`,
          );
      break;
    default:
      errs = appendValidation(errs, `unsupported resolution type ${resolution}`);
  }
  return errs;
}

function validateEndpointPorts(endpoint: Json, portNames: ReadonlySet<string>): Validation {
  let errs = NO_VALIDATION;
  for (const [name, port] of Object.entries(message(endpoint.ports) ?? {})) {
    if (!portNames.has(name))
      errs = appendValidation(
        errs,
        `endpoint port ${num(port)} is not defined by the service entry`,
      );
    errs = appendValidation(
      errs,
      isDNS1123Label(name) ? undefined : M.invalidPortName(name),
      validatePort(num(port)),
    );
  }
  return errs;
}

// ---- DestinationRule ------------------------------------------------------------------

export function validateDestinationRule(namespace: string, rule: Json): Validation {
  let v = appendValidation(
    NO_VALIDATION,
    validateWildcardDomain(str(rule.host)),
    validateTrafficPolicy(namespace, message(rule.trafficPolicy)),
  );
  const subsets = new Set<string>();
  for (const raw of list(rule.subsets)) {
    const subset = element(raw);
    if (subset === undefined) {
      v = appendValidation(v, M.subsetNull);
      continue;
    }
    const name = str(subset.name);
    if (subsets.has(name)) v = appendValidation(v, M.duplicateSubset(name));
    subsets.add(name);
    v = appendValidation(
      v,
      appendErrors(
        validateSubsetName(name),
        validateLabels(subset.labels),
        validateTrafficPolicy(namespace, message(subset.trafficPolicy)),
      ),
    );
  }
  return v;
}

const POLICY_FIELDS = [
  'outlierDetection',
  'connectionPool',
  'loadBalancer',
  'tls',
  'portLevelSettings',
  'tunnel',
  'proxyProtocol',
  'retryBudget',
];

function present(policy: Json, field: string): boolean {
  const value = policy[field];
  return Array.isArray(value) ? value.length > 0 : message(value) !== undefined;
}

function validateTrafficPolicy(namespace: string, policy: Json | undefined): Validation {
  if (policy === undefined) return NO_VALIDATION;
  if (!POLICY_FIELDS.some((field) => present(policy, field)))
    return wrapError(M.emptyTrafficPolicy);
  if (present(policy, 'tunnel') && present(policy, 'proxyProtocol'))
    return wrapError(M.tunnelAndProxyProtocol);
  return appendValidation(
    NO_VALIDATION,
    validateClientTls(namespace, message(policy.tls)),
    validatePortPolicies(namespace, list(policy.portLevelSettings)),
  );
}

function validatePortPolicies(namespace: string, policies: readonly unknown[]): GoError {
  let errs: GoError;
  for (const raw of policies) {
    const policy = element(raw);
    if (policy === undefined) {
      errs = appendErrors(errs, M.portPolicyNull);
      continue;
    }
    if (message(policy.port) === undefined) errs = appendErrors(errs, M.portPolicyPort);
    if (
      !['outlierDetection', 'connectionPool', 'loadBalancer', 'tls'].some((f) => present(policy, f))
    )
      errs = appendErrors(errs, M.emptyPortPolicy);
    else errs = appendErrors(errs, validateClientTls(namespace, message(policy.tls)));
  }
  return errs;
}

/** agent.ValidateTLS (A 280), configmap:// credential names aside. */
function validateClientTls(_namespace: string, tls: Json | undefined): GoError {
  if (tls === undefined) return undefined;
  let errs: GoError;
  const mode = str(tls.mode) || ISTIO_ENUM_DEFAULTS.clientTlsMode;
  const has = (field: string): boolean => str(tls[field]) !== '';
  const subjectAltNames = tls.subjectAltNames !== undefined && tls.subjectAltNames !== null;
  if (tls.insecureSkipVerify === true) {
    if (mode === 'SIMPLE' && (has('caCertificates') || has('credentialName') || subjectAltNames))
      errs = appendErrors(errs, M.insecureSimple);
    if (mode === 'MUTUAL' && (has('caCertificates') || subjectAltNames))
      errs = appendErrors(errs, M.insecureMutual);
  }
  if ((mode === 'SIMPLE' || mode === 'MUTUAL') && has('credentialName')) {
    if (has('clientCertificate') || has('caCertificates') || has('privateKey') || has('caCrl'))
      errs = appendErrors(errs, M.credentialWithCertificates);
    return errs;
  }
  if (mode === 'MUTUAL') {
    if (!has('clientCertificate')) errs = appendErrors(errs, M.mutualClientCertificate);
    if (!has('privateKey')) errs = appendErrors(errs, M.mutualPrivateKey);
  }
  return errs;
}
