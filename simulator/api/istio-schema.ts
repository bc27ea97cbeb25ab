/**
 * The structural schema and CEL rules of Istio's networking CRDs, checked by the API server
 * before any webhook: istio/istio `manifests/charts/base/files/crd-all.gen.yaml`, version
 * v1 of ServiceEntry, Gateway, VirtualService and DestinationRule (release-1.29 to
 * release-1.31, the same for the fields below; v1beta1 and v1alpha3 share the schema).
 * Errors are worded as kubernetes/apiextensions-apiserver words them
 * (`pkg/apiserver/validation/validation.go` kubeOpenAPIResultToFieldErrors,
 * `pkg/apiserver/schema/cel/validation.go`).
 */
import { CEL_ERROR_VALUE } from '../../harness/facts/kube-api.ts';
import { isRecord, type Json } from '../json.ts';
import type { Causes } from './validation.ts';

const SERVER_TLS_MODES = [
  'PASSTHROUGH',
  'SIMPLE',
  'MUTUAL',
  'AUTO_PASSTHROUGH',
  'ISTIO_MUTUAL',
  'OPTIONAL_MUTUAL',
];
const TLS_VERSIONS = ['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'];
const CLIENT_TLS_MODES = ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'];
const LOAD_BALANCERS = [
  'UNSPECIFIED',
  'LEAST_CONN',
  'RANDOM',
  'PASSTHROUGH',
  'ROUND_ROBIN',
  'LEAST_REQUEST',
];
const RESOLUTIONS = ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS'];
const LOCATIONS = ['MESH_EXTERNAL', 'MESH_INTERNAL'];
const UINT32_MAX = 4294967295;

/** Checks one CRD's schema, collecting causes; `kubernetesMinor` decides how CEL errors print. */
class SchemaCheck {
  readonly causes: Causes;
  readonly kubernetesMinor: number;
  constructor(causes: Causes, kubernetesMinor: number) {
    this.causes = causes;
    this.kubernetesMinor = kubernetesMinor;
  }

  /** A CEL rule failed at `field` on `value` (CEL_ERROR_VALUE). */
  cel(field: string, value: unknown, message: string): void {
    const type = schemaType(value);
    let shown: string | undefined;
    if (this.kubernetesMinor < CEL_ERROR_VALUE.actualValueSinceMinor) shown = JSON.stringify(type);
    else if (type !== 'object' && type !== 'array') shown = goValue(value);
    this.causes.list.push({
      reason: 'FieldValueInvalid',
      message:
        shown === undefined ? `Invalid value: ${message}` : `Invalid value: ${shown}: ${message}`,
      field,
    });
  }

  /** An object field: type-checked, `{}` when absent. */
  object(field: string, value: unknown): Json | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isRecord(value)) {
      this.causes.type(field, value, 'object');
      return undefined;
    }
    return value;
  }

  /** An array field's items (non-objects reported), `[]` when absent. */
  array(field: string, value: unknown): unknown[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      this.causes.type(field, value, 'array');
      return [];
    }
    return value as unknown[];
  }

  /** Items of an array of objects, with their paths. */
  items(field: string, value: unknown): [string, Json][] {
    const result: [string, Json][] = [];
    this.array(field, value).forEach((item, index) => {
      const path = `${field}[${index}]`;
      const record = this.object(path, item);
      if (record !== undefined) result.push([path, record]);
    });
    return result;
  }

  strings(field: string, value: unknown): string[] {
    const result: string[] = [];
    this.array(field, value).forEach((item, index) => {
      if (typeof item === 'string') result.push(item);
      else this.causes.type(`${field}[${index}]`, item, 'string');
    });
    return result;
  }

  required(record: Json, parent: string, ...fields: string[]): void {
    for (const field of fields)
      if (record[field] === undefined || record[field] === null)
        this.causes.required(`${parent}.${field}`);
  }

  string(field: string, value: unknown): void {
    if (value !== undefined && value !== null && typeof value !== 'string')
      this.causes.type(field, value, 'string');
  }

  /** An integer with the schema's `minimum: 0, maximum: 4294967295`. */
  uint32(field: string, value: unknown): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      this.causes.type(field, value, 'integer');
      return undefined;
    }
    if (value < 0)
      this.causes.invalid(field, value, `${field} in body should be greater than or equal to 0`);
    else if (value > UINT32_MAX)
      this.causes.invalid(
        field,
        value,
        `${field} in body should be less than or equal to ${UINT32_MAX}`,
      );
    return value;
  }

  /** A port number with the CEL rule `0 < self && self <= 65535`. */
  port(field: string, value: unknown): void {
    const port = this.uint32(field, value);
    if (port !== undefined && (port < 1 || port > 65535))
      this.cel(field, port, 'port must be between 1-65535');
  }

  enumValue(field: string, value: unknown, supported: readonly string[]): void {
    this.causes.enumValue(field, value, [...supported]);
  }
}

function schemaType(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** A value as Go's field error prints it (%q for strings, %v for the rest). */
function goValue(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** Validates the spec of an Istio networking kind against its CRD. */
export function checkIstioSchema(
  causes: Causes,
  kind: string,
  object: Json,
  kubernetesMinor: number,
): void {
  const check = new SchemaCheck(causes, kubernetesMinor);
  if (kind === 'ServiceEntry' && (object.spec === undefined || object.spec === null))
    causes.required('spec');
  const spec = check.object('spec', object.spec) ?? {};
  switch (kind) {
    case 'ServiceEntry':
      serviceEntry(check, spec);
      break;
    case 'Gateway':
      gateway(check, spec);
      break;
    case 'VirtualService':
      virtualService(check, spec);
      break;
    case 'DestinationRule':
      destinationRule(check, spec);
      break;
    default:
      break;
  }
}

function serviceEntry(check: SchemaCheck, spec: Json): void {
  check.required(spec, 'spec', 'hosts');
  const hosts = check.strings('spec.hosts', spec.hosts);
  if (Array.isArray(spec.hosts) && hosts.length === 0)
    check.causes.invalid('spec.hosts', 0, 'spec.hosts in body should have at least 1 items');
  hosts.forEach((host, index) => {
    if (host === '*') check.cel(`spec.hosts[${index}]`, host, 'hostname cannot be wildcard');
  });
  check.strings('spec.addresses', spec.addresses);
  check.enumValue('spec.location', spec.location, LOCATIONS);
  check.enumValue('spec.resolution', spec.resolution, RESOLUTIONS);
  const ports = check.items('spec.ports', spec.ports);
  const names = new Map<string, number>();
  for (const [path, port] of ports) {
    check.required(port, path, 'number', 'name');
    check.port(`${path}.number`, port.number);
    check.string(`${path}.name`, port.name);
    check.string(`${path}.protocol`, port.protocol);
    if (port.targetPort !== undefined) check.port(`${path}.targetPort`, port.targetPort);
    // x-kubernetes-list-type: map, keyed by name.
    if (typeof port.name === 'string') {
      if (names.has(port.name))
        check.causes.list.push({
          reason: 'FieldValueDuplicate',
          message: `Duplicate value: map[string]interface {}{"name":${JSON.stringify(port.name)}}`,
          field: path,
        });
      names.set(port.name, 1);
    }
  }
  const numbers = ports.map(([, port]) => port.number);
  if (numbers.some((number, index) => numbers.indexOf(number) !== index))
    check.cel('spec.ports', spec.ports, 'port number cannot be duplicated');
  for (const [path, endpoint] of check.items('spec.endpoints', spec.endpoints)) {
    const address = endpoint.address;
    check.string(`${path}.address`, address);
    if (typeof address === 'string' && address.startsWith('unix://')) {
      const first = address.substring(7, 8);
      if (first !== '/' && first !== '@')
        check.cel(`${path}.address`, address, 'UDS must be an absolute path or abstract socket');
      if (address.endsWith('/')) check.cel(`${path}.address`, address, 'UDS may not be a dir');
    }
    const endpointPorts = check.object(`${path}.ports`, endpoint.ports) ?? {};
    for (const [name, port] of Object.entries(endpointPorts))
      check.port(`${path}.ports.${name}`, port);
    if (endpoint.address === undefined && endpoint.network === undefined)
      check.cel(path, endpoint, 'Address is required');
    if (
      typeof address === 'string' &&
      address.startsWith('unix://') &&
      endpoint.ports !== undefined
    )
      check.cel(path, endpoint, 'UDS may not include ports');
  }
  const has = (field: string): boolean => spec[field] !== undefined && spec[field] !== null;
  const resolution = typeof spec.resolution === 'string' ? spec.resolution : undefined;
  if (has('workloadSelector') && has('endpoints'))
    check.cel('spec', spec, 'only one of WorkloadSelector or Endpoints can be set');
  const addresses = Array.isArray(spec.addresses) ? (spec.addresses as unknown[]) : [];
  if (
    addresses.some((address) => typeof address === 'string' && address.includes('/')) &&
    !['STATIC', 'NONE'].includes(resolution ?? 'NONE')
  )
    check.cel('spec', spec, 'CIDR addresses are allowed only for NONE/STATIC resolution types');
  if ((resolution ?? 'NONE') === 'NONE' && has('endpoints'))
    check.cel('spec', spec, 'NONE mode cannot set endpoints');
  if (
    resolution === 'DNS_ROUND_ROBIN' &&
    Array.isArray(spec.endpoints) &&
    spec.endpoints.length > 1
  )
    check.cel('spec', spec, 'DNS_ROUND_ROBIN mode cannot have multiple endpoints');
}

function gateway(check: SchemaCheck, spec: Json): void {
  check.object('spec.selector', spec.selector);
  for (const [path, server] of check.items('spec.servers', spec.servers)) {
    check.required(server, path, 'port', 'hosts');
    const port = check.object(`${path}.port`, server.port);
    if (port !== undefined) {
      check.required(port, `${path}.port`, 'number', 'protocol', 'name');
      check.uint32(`${path}.port.number`, port.number);
      check.string(`${path}.port.protocol`, port.protocol);
      check.string(`${path}.port.name`, port.name);
    }
    check.strings(`${path}.hosts`, server.hosts);
    const tls = check.object(`${path}.tls`, server.tls);
    if (tls === undefined) continue;
    check.enumValue(`${path}.tls.mode`, tls.mode, SERVER_TLS_MODES);
    check.enumValue(`${path}.tls.minProtocolVersion`, tls.minProtocolVersion, TLS_VERSIONS);
    check.enumValue(`${path}.tls.maxProtocolVersion`, tls.maxProtocolVersion, TLS_VERSIONS);
    const has = (field: string): number => (tls[field] === undefined ? 0 : 1);
    if (has('tlsCertificates') + has('credentialNames') > 1)
      check.cel(`${path}.tls`, tls, 'only one of credentialNames or tlsCertificates can be set');
    if (has('credentialName') + has('credentialNames') > 1)
      check.cel(`${path}.tls`, tls, 'only one of credentialName or credentialNames can be set');
    // The third rule's message names credentialName but its expression repeats the first.
    if (has('credentialNames') + has('tlsCertificates') > 1)
      check.cel(`${path}.tls`, tls, 'only one of credentialName or tlsCertificates can be set');
  }
}

function destination(check: SchemaCheck, path: string, value: unknown): void {
  const record = check.object(path, value);
  if (record === undefined) return;
  check.required(record, path, 'host');
  check.string(`${path}.host`, record.host);
  check.string(`${path}.subset`, record.subset);
  const port = check.object(`${path}.port`, record.port);
  if (port !== undefined) check.uint32(`${path}.port.number`, port.number);
}

function routes(check: SchemaCheck, path: string, value: unknown): void {
  for (const [routePath, route] of check.items(path, value)) {
    check.required(route, routePath, 'destination');
    destination(check, `${routePath}.destination`, route.destination);
  }
}

function virtualService(check: SchemaCheck, spec: Json): void {
  check.strings('spec.hosts', spec.hosts);
  check.strings('spec.gateways', spec.gateways);
  check.strings('spec.exportTo', spec.exportTo);
  for (const [path, http] of check.items('spec.http', spec.http)) {
    for (const [matchPath, match] of check.items(`${path}.match`, http.match)) {
      check.uint32(`${matchPath}.port`, match.port);
      check.strings(`${matchPath}.gateways`, match.gateways);
    }
    routes(check, `${path}.route`, http.route);
    if (http.mirror !== undefined) destination(check, `${path}.mirror`, http.mirror);
  }
  for (const [path, tls] of check.items('spec.tls', spec.tls)) {
    check.required(tls, path, 'match');
    for (const [matchPath, match] of check.items(`${path}.match`, tls.match)) {
      check.required(match, matchPath, 'sniHosts');
      check.strings(`${matchPath}.sniHosts`, match.sniHosts);
      check.uint32(`${matchPath}.port`, match.port);
      check.strings(`${matchPath}.gateways`, match.gateways);
    }
    routes(check, `${path}.route`, tls.route);
  }
  for (const [path, tcp] of check.items('spec.tcp', spec.tcp)) {
    for (const [matchPath, match] of check.items(`${path}.match`, tcp.match)) {
      check.uint32(`${matchPath}.port`, match.port);
      check.strings(`${matchPath}.gateways`, match.gateways);
    }
    routes(check, `${path}.route`, tcp.route);
  }
}

function trafficPolicy(check: SchemaCheck, path: string, value: unknown): void {
  const policy = check.object(path, value);
  if (policy === undefined) return;
  const clientTls = (tlsPath: string, tlsValue: unknown): void => {
    const tls = check.object(tlsPath, tlsValue);
    if (tls !== undefined) check.enumValue(`${tlsPath}.mode`, tls.mode, CLIENT_TLS_MODES);
  };
  const loadBalancer = (lbPath: string, lbValue: unknown): void => {
    const lb = check.object(lbPath, lbValue);
    if (lb !== undefined) check.enumValue(`${lbPath}.simple`, lb.simple, LOAD_BALANCERS);
  };
  clientTls(`${path}.tls`, policy.tls);
  loadBalancer(`${path}.loadBalancer`, policy.loadBalancer);
  for (const [settingPath, setting] of check.items(
    `${path}.portLevelSettings`,
    policy.portLevelSettings,
  )) {
    const port = check.object(`${settingPath}.port`, setting.port);
    if (port !== undefined) check.uint32(`${settingPath}.port.number`, port.number);
    clientTls(`${settingPath}.tls`, setting.tls);
    loadBalancer(`${settingPath}.loadBalancer`, setting.loadBalancer);
  }
}

function destinationRule(check: SchemaCheck, spec: Json): void {
  check.required(spec, 'spec', 'host');
  check.string('spec.host', spec.host);
  trafficPolicy(check, 'spec.trafficPolicy', spec.trafficPolicy);
  for (const [path, subset] of check.items('spec.subsets', spec.subsets)) {
    check.string(`${path}.name`, subset.name);
    check.object(`${path}.labels`, subset.labels);
    trafficPolicy(check, `${path}.trafficPolicy`, subset.trafficPolicy);
  }
}
