/** Label and field selectors, parsed once for `?labelSelector=`, watches and controllers. */
import type { KubeObject } from '../types.ts';
import { badRequestError } from './errors.ts';

/** One parsed requirement of a label selector string. */
export interface LabelRequirement {
  key: string;
  operator: '=' | '!=' | 'in' | 'notin' | 'exists' | '!';
  values: string[];
}

/**
 * Parses a label selector as `kubectl -l` and `?labelSelector=` accept it: `a=b`, `a==b`,
 * `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, joined by commas.
 */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  const requirements: LabelRequirement[] = [];
  let rest = selector.trim();
  const fail = (why: string): never => {
    throw badRequestError(`unable to parse requirement: ${why} in label selector "${selector}"`);
  };
  while (rest.length > 0) {
    let match: RegExpExecArray | null;
    if ((match = /^!\s*([A-Za-z0-9._/-]+)\s*(,|$)/.exec(rest)) !== null) {
      requirements.push({ key: match[1] ?? '', operator: '!', values: [] });
    } else if (
      (match = /^([A-Za-z0-9._/-]+)\s+(in|notin)\s*\(([^)]*)\)\s*(,|$)/.exec(rest)) !== null
    ) {
      const values = (match[3] ?? '')
        .split(',')
        .map((value) => value.trim())
        .filter((value) => value.length > 0);
      requirements.push({
        key: match[1] ?? '',
        operator: match[2] === 'in' ? 'in' : 'notin',
        values,
      });
    } else if (
      (match = /^([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*(,|$)/.exec(rest)) !== null
    ) {
      requirements.push({
        key: match[1] ?? '',
        operator: match[2] === '!=' ? '!=' : '=',
        values: [match[3] ?? ''],
      });
    } else if ((match = /^([A-Za-z0-9._/-]+)\s*(,|$)/.exec(rest)) !== null) {
      requirements.push({ key: match[1] ?? '', operator: 'exists', values: [] });
    } else {
      fail(`cannot parse "${rest}"`);
    }
    rest = rest.slice(match?.[0].length ?? rest.length).trim();
  }
  return requirements;
}

/** Whether `labels` satisfy every requirement. */
export function matchesLabelRequirements(
  requirements: readonly LabelRequirement[],
  labels: Record<string, string> | undefined,
): boolean {
  const set = labels ?? {};
  return requirements.every((requirement) => {
    const has = Object.hasOwn(set, requirement.key);
    const value = set[requirement.key];
    switch (requirement.operator) {
      case '=':
        return has && value === requirement.values[0];
      case '!=':
        return !has || value !== requirement.values[0];
      case 'in':
        return has && requirement.values.includes(value ?? '');
      case 'notin':
        return !has || !requirement.values.includes(value ?? '');
      case 'exists':
        return has;
      case '!':
        return !has;
    }
    return false;
  });
}

/** A Kubernetes `LabelSelector` object (NetworkPolicy, Deployment). */
export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/**
 * Whether `labels` match a `LabelSelector` object; an empty selector matches everything,
 * as in NetworkPolicy's `podSelector: {}`.
 */
export function matchesLabelSelectorObject(
  selector: LabelSelectorObject | undefined | null,
  labels: Record<string, string> | undefined,
): boolean {
  if (selector === undefined || selector === null) return true;
  const set = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (set[key] !== value) return false;
  }
  for (const expression of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(set, expression.key);
    const values = expression.values ?? [];
    const value = set[expression.key] ?? '';
    switch (expression.operator) {
      case 'In':
        if (!has || !values.includes(value)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** Whether every key/value of a plain map selector (Istio `Gateway.spec.selector`) is in `labels`. */
export function matchesLabels(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  const set = labels ?? {};
  return Object.entries(selector ?? {}).every(([key, value]) => set[key] === value);
}

/** One parsed requirement of a field selector string. */
export interface FieldRequirement {
  path: string[];
  negate: boolean;
  value: string;
}

/** Parses `metadata.name=x,status.phase!=Running`; any dotted path of the object is accepted. */
export function parseFieldSelector(selector: string): FieldRequirement[] {
  return selector
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => {
      const match = /^([A-Za-z0-9._-]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
      if (match === null)
        throw badRequestError(`invalid selector: '${selector}'; can't understand '${part}'`);
      return {
        path: (match[1] ?? '').split('.'),
        negate: match[2] === '!=',
        value: match[3] ?? '',
      };
    });
}

function fieldValue(object: unknown, path: readonly string[]): string {
  let current: unknown = object;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return '';
    current = (current as Record<string, unknown>)[segment];
  }
  return typeof current === 'string' || typeof current === 'number' || typeof current === 'boolean'
    ? String(current)
    : '';
}

/** Whether `object` satisfies every parsed field requirement. */
export function matchesFieldRequirements(
  requirements: readonly FieldRequirement[],
  object: KubeObject,
): boolean {
  return requirements.every(
    (requirement) =>
      (fieldValue(object, requirement.path) === requirement.value) !== requirement.negate,
  );
}
