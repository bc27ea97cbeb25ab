/** The subset of the real validation and the Istio CRD schemas the suites can trip over. */
import { asArray, asRecord, isRecord, sameValue, type Json } from '../json.ts';
import { DISRUPTION_BUDGET_VALIDATION } from '../../harness/facts/disruption-budget.ts';
import { invalidError, type StatusCause } from '../store/errors.ts';
import { cloneObject } from '../store/object-store.ts';
import type { ResourceType } from '../store/resource-types.ts';
import type { KubeObject } from '../types.ts';
import { checkIstioSchema } from './istio-schema.ts';

/** The minor of the served Kubernetes version unless told (the API server's default, v1.36). */
export const DEFAULT_KUBERNETES_MINOR = 36;

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const RFC1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RFC1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function nameCauses(type: ResourceType, name: string): StatusCause[] {
  if (name === '') {
    return [
      {
        reason: 'FieldValueRequired',
        message: 'Required value: name or generateName is required',
        field: 'metadata.name',
      },
    ];
  }
  const invalid = (why: string): StatusCause[] => [
    {
      reason: 'FieldValueInvalid',
      message: `Invalid value: "${name}": ${why}`,
      field: 'metadata.name',
    },
  ];
  switch (type.nameRule) {
    case 'subdomain':
      if (name.length > 253) return invalid('must be no more than 253 characters');
      if (!SUBDOMAIN.test(name)) {
        return invalid(
          "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        );
      }
      return [];
    case 'rfc1123-label':
      if (name.length > 63) return invalid('must be no more than 63 characters');
      if (!RFC1123_LABEL.test(name)) {
        return invalid(
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        );
      }
      return [];
    case 'rfc1035-label':
      if (name.length > 63) return invalid('must be no more than 63 characters');
      if (!RFC1035_LABEL.test(name)) {
        return invalid(
          "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        );
      }
      return [];
  }
}

/** The field errors of one object, worded as the API server words them. */
export class Causes {
  readonly list: StatusCause[] = [];
  required(field: string): void {
    this.list.push({ reason: 'FieldValueRequired', message: 'Required value', field });
  }
  invalid(field: string, value: unknown, why: string): void {
    this.list.push({
      reason: 'FieldValueInvalid',
      message: `Invalid value: ${JSON.stringify(value)}: ${why}`,
      field,
    });
  }
  type(field: string, value: unknown, expected: string): void {
    this.list.push({
      reason: 'FieldValueTypeInvalid',
      message: `Invalid value: "${describeSchemaType(value)}": ${field} in body must be of type ${expected}: "${describeSchemaType(value)}"`,
      field,
    });
  }
  unsupported(field: string, value: unknown, supported: string[]): void {
    this.list.push({
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((entry) => `"${entry}"`).join(', ')}`,
      field,
    });
  }
  enumValue(field: string, value: unknown, supported: string[]): void {
    if (value === undefined || value === null) return;
    if (typeof value !== 'string' || !supported.includes(value))
      this.unsupported(field, value, supported);
  }
}

function describeSchemaType(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/**
 * Throws the 422 the real API server would answer for `object`; `kubernetesMinor` is the
 * served version's minor (it decides how CEL errors print).
 */
export function validateObject(
  type: ResourceType,
  object: KubeObject,
  kubernetesMinor = DEFAULT_KUBERNETES_MINOR,
): void {
  const causes = new Causes();
  causes.list.push(...nameCauses(type, object.metadata.name));
  for (const value of Object.values(object.metadata.labels ?? {})) {
    if (value.length > 63 || !LABEL_VALUE.test(value)) {
      causes.invalid(
        'metadata.labels',
        value,
        `a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
      );
    }
  }
  const specValue = object.spec;
  if (specValue !== undefined && !isRecord(specValue)) causes.type('spec', specValue, 'object');
  const spec = asRecord(specValue);
  switch (type.key) {
    case 'Pod':
      validatePodSpec(causes, 'spec', spec);
      break;
    case 'Deployment':
    case 'ReplicaSet': {
      const selector = spec.selector;
      if (!isRecord(selector)) causes.required('spec.selector');
      const template = asRecord(spec.template);
      const labels = asRecord(asRecord(template.metadata).labels);
      const matchLabels = asRecord(asRecord(selector).matchLabels);
      if (
        isRecord(selector) &&
        Object.entries(matchLabels).some(([key, value]) => labels[key] !== value)
      ) {
        causes.list.push({
          reason: 'FieldValueInvalid',
          message: `Invalid value: ${goMap(labels)}: \`selector\` does not match template \`labels\``,
          field: 'spec.template.metadata.labels',
        });
      }
      validatePodSpec(causes, 'spec.template.spec', asRecord(template.spec));
      break;
    }
    case 'Service': {
      const ports = asArray(spec.ports);
      const headless = spec.clusterIP === 'None' || spec.type === 'ExternalName';
      if (ports.length === 0 && !headless) causes.required('spec.ports');
      ports.forEach((port, index) => {
        if (typeof port.port !== 'number') causes.required(`spec.ports[${index}].port`);
        else if (port.port < 1 || port.port > 65535)
          causes.invalid(
            `spec.ports[${index}].port`,
            port.port,
            'must be between 1 and 65535, inclusive',
          );
        if (ports.length > 1 && (port.name === undefined || port.name === ''))
          causes.required(`spec.ports[${index}].name`);
      });
      causes.enumValue('spec.type', spec.type, [
        'ClusterIP',
        'ExternalName',
        'LoadBalancer',
        'NodePort',
      ]);
      break;
    }
    case 'NetworkPolicy': {
      const types = Array.isArray(spec.policyTypes) ? (spec.policyTypes as unknown[]) : [];
      types.forEach((value, index) =>
        causes.enumValue(`spec.policyTypes[${index}]`, value, ['Egress', 'Ingress']),
      );
      for (const direction of ['ingress', 'egress'] as const) {
        asArray(spec[direction]).forEach((rule, ruleIndex) => {
          asArray(rule.ports).forEach((port, portIndex) =>
            causes.enumValue(
              `spec.${direction}[${ruleIndex}].ports[${portIndex}].protocol`,
              port.protocol,
              ['SCTP', 'TCP', 'UDP'],
            ),
          );
        });
      }
      break;
    }
    case 'PodDisruptionBudget':
      if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined)
        causes.invalid('spec', spec, DISRUPTION_BUDGET_VALIDATION.bothSet);
      break;
    case 'VirtualService':
    case 'Gateway':
    case 'DestinationRule':
    case 'ServiceEntry':
      checkIstioSchema(causes, type.kind, object, kubernetesMinor);
      break;
    default:
      break;
  }
  if (causes.list.length > 0) throw invalidError(type, object.metadata.name, causes.list);
}

function validatePodSpec(causes: Causes, field: string, spec: Json): void {
  const containers = asArray(spec.containers);
  if (containers.length === 0) causes.required(`${field}.containers`);
  containers.forEach((container, index) => {
    if (typeof container.name !== 'string' || container.name === '')
      causes.required(`${field}.containers[${index}].name`);
    if (typeof container.image !== 'string' || container.image === '')
      causes.required(`${field}.containers[${index}].image`);
  });
}

function goMap(map: Json): string {
  return `map[string]string{${Object.entries(map)
    .map(([key, value]) => `"${key}":"${String(value as string)}"`)
    .join(', ')}}`;
}

/** Pod specs are immutable but for a few fields; the real message, without its diff. */
export function checkPodUpdate(existing: KubeObject, next: KubeObject): void {
  const comparable = (spec: unknown): unknown => {
    const copy = cloneObject(asRecord(spec));
    for (const list of ['containers', 'initContainers']) {
      copy[list] = asArray(copy[list]).map((container) => ({ ...container, image: undefined }));
    }
    delete copy.activeDeadlineSeconds;
    delete copy.tolerations;
    delete copy.terminationGracePeriodSeconds;
    return copy;
  };
  if (sameValue(comparable(existing.spec), comparable(next.spec))) return;
  throw invalidError({ kind: 'Pod', group: '' }, next.metadata.name, [
    {
      reason: 'FieldValueForbidden',
      message:
        'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
      field: 'spec',
    },
  ]);
}
