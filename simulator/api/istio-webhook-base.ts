/**
 * The pieces Istio's validation is built from, in Go's shapes: errors that are either one
 * message or a flattened go-multierror list, `Validation` (an error and a warning), and the
 * host, port and label checks of istio/istio `pkg/config/validation/agent/validation.go`
 * and `pkg/config/labels/instance.go` (release-1.29 to release-1.31, unchanged).
 */
import { isIP } from 'node:net';
import {
  ISTIO_PROTOCOLS,
  ISTIO_VALIDATION_MESSAGES as M,
  multierrorText,
} from '../../harness/facts/istio-validation.ts';
import { isRecord, type Json } from '../json.ts';

/** A Go `error`: nothing, one message, or a `*multierror.Error` (its flattened messages). */
export type GoError = undefined | string | readonly string[];

/** Istio's `Validation`: an error and a warning, each a {@link GoError}. */
export interface Validation {
  err: GoError;
  warning: GoError;
}

export const NO_VALIDATION: Validation = { err: undefined, warning: undefined };

function flat(error: GoError): readonly string[] {
  if (error === undefined) return [];
  return typeof error === 'string' ? [error] : error;
}

/** `appendError` of agent.AppendValidation/AppendErrors: nil-aware, two become a multierror. */
function join(a: GoError, b: GoError): GoError {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return [...flat(a), ...flat(b)];
}

function isValidation(value: unknown): value is Validation {
  return isRecord(value) && 'err' in value && 'warning' in value;
}

/** agent.AppendValidation. */
export function appendValidation(v: Validation, ...items: (GoError | Validation)[]): Validation {
  let { err, warning } = v;
  for (const item of items) {
    if (isValidation(item)) {
      err = join(err, item.err);
      warning = join(warning, item.warning);
    } else err = join(err, item);
  }
  return { err, warning };
}

/** agent.AppendErrors: a Validation contributes its error only. */
export function appendErrors(err: GoError, ...items: (GoError | Validation)[]): GoError {
  let result = err;
  for (const item of items) result = join(result, isValidation(item) ? item.err : item);
  return result;
}

/** `multierror.Append(err, e)` called directly: always a multierror, even of one. */
export function multierrorAppend(err: GoError, message: string): GoError {
  return [...flat(err), message];
}

export function wrapError(err: GoError): Validation {
  return { err, warning: undefined };
}

export function wrapWarning(warning: GoError): Validation {
  return { err: undefined, warning };
}

/** `err.Error()`. */
export function errorText(err: GoError): string {
  if (err === undefined) return '';
  return typeof err === 'string' ? err : multierrorText(err);
}

/** The warnings as the webhook returns them (toKubeWarnings: one per multierror entry). */
export function warningList(warning: GoError): string[] {
  return [...flat(warning)];
}

// ---- labels (pkg/config/labels/instance.go) ------------------------------------------

const DNS1123_LABEL = /^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const WILDCARD_LABEL = /^(\*|(\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)$/;
const TAG_KEY =
  /^([a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)*\/)?((?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;
const LABEL_VALUE = /^((?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Go's `len`: bytes. */
function byteLength(value: string): number {
  return Buffer.byteLength(value);
}

export function isDNS1123Label(value: string): boolean {
  return byteLength(value) <= 63 && DNS1123_LABEL.test(value);
}

function isWildcardDNS1123Label(value: string): boolean {
  return byteLength(value) <= 63 && WILDCARD_LABEL.test(value);
}

/** labels.Instance.Validate: multierror of the bad keys and values. */
export function validateLabels(labels: unknown): GoError {
  if (!isRecord(labels)) return undefined;
  let errs: GoError;
  for (const [key, value] of Object.entries(labels)) {
    const match = TAG_KEY.exec(key);
    if (match === null) errs = multierrorAppend(errs, `invalid tag key: "${key}"`);
    else if ((match[1]?.length ?? 0) - 1 > 253)
      errs = multierrorAppend(errs, `invalid tag key: "${key}" (DNS prefix is too long)`);
    else if ((match[2]?.length ?? 0) > 63)
      errs = multierrorAppend(errs, `invalid tag key: "${key}" (name is too long)`);
    if (!LABEL_VALUE.test(String(value)))
      errs = multierrorAppend(errs, `invalid tag value: "${String(value)}"`);
  }
  return errs;
}

// ---- hosts, ports, addresses (agent/validation.go) ------------------------------------

export function validatePort(port: number): GoError {
  return port >= 1 && port <= 65535 ? undefined : M.portRange(port);
}

function checkDNS1123Preconditions(name: string): GoError {
  if (byteLength(name) > 255) return M.domainTooLong(name);
  if (name.length === 0) return M.emptyDomain;
  return undefined;
}

function validateDNS1123Labels(domain: string): GoError {
  const parts = domain.split('.');
  const tld = parts[parts.length - 1] ?? '';
  if (/^[+-]?\d+$/.test(tld)) return M.numericTld(domain, tld);
  for (const [index, label] of parts.entries()) {
    if (index === parts.length - 1 && label === '') return undefined;
    if (!isDNS1123Label(label)) return M.invalidLabel(domain, label);
  }
  return undefined;
}

export function validateFQDN(fqdn: string): GoError {
  return checkDNS1123Preconditions(fqdn) ?? validateDNS1123Labels(fqdn);
}

export function validateWildcardDomain(domain: string): GoError {
  const precondition = checkDNS1123Preconditions(domain);
  if (precondition !== undefined) return precondition;
  const dot = domain.indexOf('.');
  const first = dot < 0 ? domain : domain.slice(0, dot);
  if (!isWildcardDNS1123Label(first)) return M.invalidLabel(domain, first);
  return dot < 0 ? undefined : validateDNS1123Labels(domain.slice(dot + 1));
}

/** ValidateWildcardDomainForVirtualServiceBoundToGateway (the `outbound_` SNI form aside). */
export function validateGatewayBoundDomain(sni: boolean, domain: string): GoError {
  const precondition = checkDNS1123Preconditions(domain);
  if (precondition !== undefined) return precondition;
  if (sni && domain.startsWith('outbound_')) {
    const parts = domain.split('_');
    if (parts.length < 4)
      return `domain name ${domain} invalid, should follow 'outbound_.<PORT>_._.<HOSTNAME>' format`;
    return undefined;
  }
  return validateWildcardDomain(domain);
}

/** netutil.IsValidIPAddress (netip.ParseAddr). */
export function isValidIPAddress(address: string): boolean {
  return isIP(address.replace(/%[^%]+$/, '')) !== 0;
}

export function validateIPAddress(address: string): GoError {
  return isValidIPAddress(address) ? undefined : M.invalidIp(address);
}

export function validateIPSubnet(subnet: string): GoError {
  if (subnet.split('/').length === 2) {
    const [address = '', bits = ''] = subnet.split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    const ok = family !== 0 && /^\d+$/.test(bits) && Number(bits) <= max;
    return ok ? undefined : M.invalidCidr(subnet);
  }
  return validateIPAddress(subnet);
}

export function validatePartialWildcard(host: string): GoError {
  return host.includes('*') && host.length !== 1 && !host.startsWith('*.')
    ? M.partialWildcard(host)
    : undefined;
}

function validateGatewayHostnamePart(hostname: string): GoError {
  let errs: GoError;
  if (hostname !== '*' && !hostname.includes('.')) errs = appendErrors(errs, M.shortName);
  const domainError = validateWildcardDomain(hostname);
  // A gateway host may also be an IP address.
  if (domainError !== undefined && !isValidIPAddress(hostname))
    errs = appendErrors(errs, domainError);
  return appendErrors(errs, validatePartialWildcard(hostname));
}

/** ValidateNamespaceSlashWildcardHostname(hostname, isGateway=true, gatewaySemantics=false). */
export function validateGatewayHost(hostname: string): GoError {
  const slash = hostname.indexOf('/');
  if (slash < 0) return validateGatewayHostnamePart(hostname);
  const namespace = hostname.slice(0, slash);
  const dnsName = hostname.slice(slash + 1);
  let errs: GoError;
  if (namespace === '' || dnsName === '') errs = appendErrors(errs, M.emptyNamespaceOrHost);
  if (namespace !== '*' && namespace !== '.' && !isDNS1123Label(namespace))
    errs = appendErrors(errs, M.gatewayHostNamespace(namespace));
  return appendErrors(errs, validateGatewayHostnamePart(dnsName));
}

/** validateSubsetName (V 2643). */
export function validateSubsetName(name: string): GoError {
  if (name.length === 0) return M.emptySubsetName;
  if (!isDNS1123Label(name)) return M.invalidSubsetName(name);
  return undefined;
}

// ---- host names (pkg/config/host/name.go) ---------------------------------------------

function wildcarded(name: string): boolean {
  return name.startsWith('*');
}

/** host.Name.Matches. */
export function hostMatches(a: string, b: string): boolean {
  if (wildcarded(a)) {
    if (wildcarded(b))
      return a.length < b.length
        ? b.slice(1).endsWith(a.slice(1))
        : a.slice(1).endsWith(b.slice(1));
    return b.endsWith(a.slice(1));
  }
  if (wildcarded(b)) return a.endsWith(b.slice(1));
  return a === b;
}

/** host.Name.SubsetOf. */
export function hostSubsetOf(a: string, b: string): boolean {
  if (wildcarded(a)) {
    if (!wildcarded(b)) return false;
    return a.length >= b.length && a.slice(1).endsWith(b.slice(1));
  }
  if (wildcarded(b)) return a.endsWith(b.slice(1));
  return a === b;
}

// ---- protocols (pkg/config/protocol/instance.go) --------------------------------------

/** protocol.Parse: the canonical name, or undefined for UnsupportedProtocol. */
export function parseProtocol(value: unknown): string | undefined {
  const lower = typeof value === 'string' ? value.toLowerCase() : '';
  return ISTIO_PROTOCOLS.parse.find((name) => name.toLowerCase() === lower);
}

export function isHttpProtocol(protocol: string | undefined): boolean {
  return (ISTIO_PROTOCOLS.http as readonly string[]).includes(protocol ?? '');
}

export function isTlsProtocol(protocol: string | undefined): boolean {
  return (ISTIO_PROTOCOLS.tls as readonly string[]).includes(protocol ?? '');
}

// ---- reading specs as Go would decode them --------------------------------------------

/** A string field: Go's zero value "" when absent. */
export function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** A number field: 0 when absent. */
export function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/** A repeated field: protojson leaves `[]` and absent alike nil. */
export function list(value: unknown): unknown[] {
  return Array.isArray(value) ? (value as unknown[]) : [];
}

/** A message field: nil when absent or null; `{}` is a non-nil empty message. */
export function message(value: unknown): Json | undefined {
  return isRecord(value) ? value : undefined;
}

/** A repeated message field's element: null elements are Go's nil pointers. */
export function element(value: unknown): Json | undefined {
  return isRecord(value) ? value : undefined;
}
