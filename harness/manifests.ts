/**
 * Loads the YAML each suite applies: fills `{{placeholders}}`, parses every document and
 * validates it before anything reaches a cluster, so a typo in a manifest fails with the
 * file and field at fault instead of as a rejected apply (or, for fields Istio ignores,
 * as a behaviour that silently never happens).
 */
import { memoized } from './memo.ts';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as networkingIstioIo from '@kubernetes-models/istio/networking.istio.io';
import * as securityIstioIo from '@kubernetes-models/istio/security.istio.io';
import { parse, parseAllDocuments } from 'yaml';

/** One Kubernetes object as read from a manifest. */
export interface KubeManifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** The `manifests/` folder of this project. */
export const MANIFESTS_ROOT = fileURLToPath(new URL('../manifests/', import.meta.url));

const PLACEHOLDER = /\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}/g;

/**
 * Replaces every `{{name}}` with its value, inserted as a YAML string: quoted when YAML
 * would otherwise read it as something else (`true`, `80`, `a: b`), escaped inside a quoted
 * scalar. Throws naming `source` and every placeholder without a value.
 */
export function renderManifest(
  templateText: string,
  values: Readonly<Record<string, string>>,
  { source = 'manifest' }: { source?: string } = {},
): string {
  const missing: string[] = [];
  const lines = templateText.split('\n').map((line, index) =>
    line.replace(PLACEHOLDER, (placeholder: string, name: string, offset: number) => {
      const value = Object.hasOwn(values, name) ? values[name] : undefined;
      if (value === undefined) {
        missing.push(`{{${name}}} (line ${index + 1})`);
        return placeholder;
      }
      const context = scalarContext(line.slice(0, offset), line.slice(offset + placeholder.length));
      return insertValue(value, context, () => `${source} line ${index + 1}: {{${name}}}`);
    }),
  );
  if (missing.length > 0) {
    const given = Object.keys(values).sort().join(', ') || 'none';
    throw new Error(
      `${source}: no value for placeholder ${missing.join(', ')}; values given: ${given}`,
    );
  }
  return lines.join('\n');
}

type ScalarContext = 'whole' | 'embedded' | 'double-quoted' | 'single-quoted' | 'comment';

/**
 * Where a placeholder sits on its template line. Template lines hold only placeholders,
 * never values, so reading the template (not the half-rendered line) is enough.
 */
function scalarContext(before: string, after: string): ScalarContext {
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < before.length; i++) {
    const ch = before[i];
    if (quote === '"') {
      if (ch === '\\') i++;
      else if (ch === '"') quote = undefined;
    } else if (quote === "'") {
      if (ch === "'") quote = undefined;
    } else if (ch === '#' && (i === 0 || /\s/.test(before[i - 1] ?? ''))) {
      return 'comment';
    } else if ((ch === '"' || ch === "'") && /(?:^|[\s[{,])$/.test(before.slice(0, i))) {
      // A quote opens a quoted scalar only where a scalar starts; `it's` stays plain.
      quote = ch;
    }
  }
  if (quote === '"') return 'double-quoted';
  if (quote === "'") return 'single-quoted';
  const startsScalar = /(?:^\s*|[:?-]\s+|[[{,]\s*)$/.test(before);
  const endsScalar = /^(?:\s*$|\s+#|:(?:\s|$)|\s*[,\]}])/.test(after);
  return startsScalar && endsScalar ? 'whole' : 'embedded';
}

function insertValue(value: string, context: ScalarContext, where: () => string): string {
  switch (context) {
    case 'comment':
      return value.replace(/\r?\n/g, ' ');
    case 'double-quoted':
      return JSON.stringify(value).slice(1, -1);
    case 'single-quoted':
      if (/[\r\n]/.test(value)) {
        throw new Error(`${where()} sits in a single-quoted scalar; its value has a line break`);
      }
      return value.replaceAll("'", "''");
    case 'whole':
      // JSON's string syntax is a valid YAML double-quoted scalar.
      return isPlainSafe(value) ? value : JSON.stringify(value);
    case 'embedded':
      if (/^[\w./-]*$/.test(value)) return value;
      throw new Error(
        `${where()} is part of a longer plain scalar and its value ${JSON.stringify(value)} needs quoting; quote the scalar in the template`,
      );
  }
}

/**
 * Whether a value can stay a plain scalar, kept by value: a suite renders the same few values
 * (namespace, host, gateway names) into every manifest it applies, and each answer costs three
 * YAML parses. Bounded: a long-lived process renders many runs' values.
 */
const isPlainSafe = memoized(probePlainSafe, 1024);

/** True when the value reads back as the same string as a value, a list item and a key. */
function probePlainSafe(value: string): boolean {
  if (value === '' || /[\r\n]/.test(value) || value !== value.trim()) return false;
  // Quiet: probing `{a}: v` would otherwise print yaml's warning about collection keys.
  const quiet = { logLevel: 'error' } as const;
  try {
    const asValue = parse(`k: ${value}`, quiet) as unknown;
    const asItem = parse(`- ${value}`, quiet) as unknown;
    const asKey = parse(`${value}: v`, quiet) as unknown;
    return (
      isRecord(asValue) &&
      asValue.k === value &&
      Array.isArray(asItem) &&
      asItem.length === 1 &&
      asItem[0] === value &&
      isRecord(asKey) &&
      Object.keys(asKey).length === 1 &&
      asKey[value] === 'v'
    );
  } catch {
    return false;
  }
}

/**
 * Reads `manifests/<relativePath>` (one file, or every `*.yaml`/`*.yml` directly in a
 * folder, by name), renders it with `values`, and returns its validated objects in order.
 */
export function loadManifests(
  relativePath: string,
  values: Readonly<Record<string, string>>,
  { root = MANIFESTS_ROOT }: { root?: string } = {},
): KubeManifest[] {
  const target = join(root, relativePath);
  let files: string[];
  try {
    files = statSync(target).isDirectory()
      ? readdirSync(target, { withFileTypes: true })
          .filter((entry) => entry.isFile() && /\.ya?ml$/.test(entry.name))
          .map((entry) => join(target, entry.name))
          .sort()
      : [target];
  } catch (error) {
    throw new Error(`Manifest ${relativePath} not found under ${root}`, { cause: error });
  }
  if (files.length === 0) throw new Error(`Manifest folder ${relativePath} has no *.yaml files`);

  return files.flatMap((file) => {
    const source = join('manifests', relative(root, file));
    const rendered = renderManifest(readManifestFile(file, source), values, { source });
    return parseManifests(rendered, { source });
  });
}

/**
 * The largest manifest file read: the bundled ones are a few KiB; a user's `--manifests`
 * folder must not make the run read (and hold) an arbitrarily large file.
 */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/** YAML aliases allowed per document: enough for anchors, too few for a "billion laughs". */
const MAX_ALIAS_COUNT = 100;

function readManifestFile(file: string, source: string): string {
  const size = statSync(file).size;
  if (size > MAX_MANIFEST_BYTES) {
    throw new Error(
      `${source} is ${size} bytes, more than the ${MAX_MANIFEST_BYTES} a manifest may have`,
    );
  }
  return readFileSync(file, 'utf8');
}

/** Values that stand in for the run's own when a manifest tree is checked before the run. */
const SAMPLE_VALUES: Readonly<Record<string, string>> = {
  namespace: 'egc-check',
  name: 'check',
  host: 'check.egress-conformance.test',
  subset: 'egress-conformance',
  gatewayHost: 'istio-egressgateway.istio-system.svc.cluster.local',
  gatewaySelectorKey: 'istio',
  gatewaySelectorValue: 'egressgateway',
  gatewayService: 'check-istio',
  clientName: 'curl',
  clientImage: 'curlimages/curl:8.11.1',
};

/**
 * Checks every `*.yaml` under a manifests root before any cluster work (`--manifests`):
 * size, YAML syntax and alias count, placeholders, and each object's schema. Returns the
 * first problem as one sentence, or undefined when the tree is sound.
 */
export function checkManifestTree(root: string): string | undefined {
  let entries: string[];
  try {
    entries = readdirSync(root, { recursive: true, encoding: 'utf8' })
      .filter((entry) => /\.ya?ml$/.test(entry))
      .sort();
  } catch (error) {
    return `cannot read the manifests folder ${root}: ${error instanceof Error ? error.message : String(error)}`;
  }
  if (entries.length === 0) return `the manifests folder ${root} holds no *.yaml files`;
  for (const entry of entries) {
    const file = join(root, entry);
    try {
      if (!statSync(file).isFile()) continue;
      const source = file;
      parseManifests(renderManifest(readManifestFile(file, source), SAMPLE_VALUES, { source }), {
        source,
      });
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  }
  return undefined;
}

/** Parses rendered multi-document YAML, drops empty documents and validates each object. */
export function parseManifests(
  text: string,
  { source = 'manifest' }: { source?: string } = {},
): KubeManifest[] {
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents)) return [];
  const manifests: KubeManifest[] = [];
  documents.forEach((document, index) => {
    const where = `${source} (document ${index + 1})`;
    const [error] = document.errors;
    // The parser's message carries a code frame after its first line; the sentence is enough.
    if (error)
      throw new Error(`${where} is not valid YAML: ${error.message.split('\n')[0] ?? ''}`, {
        cause: error,
      });
    // toJS throws past maxAliasCount ("Excessive alias count indicates a resource
    // exhaustion attack"): an alias bomb fails here instead of exhausting memory.
    let object: unknown;
    try {
      object = document.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
    } catch (error) {
      throw new Error(
        `${where} is not usable YAML: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    if (object === null || object === undefined) return;
    manifests.push(validateManifest(object, { source: where }));
  });
  return manifests;
}

/**
 * Checks one object: every object needs apiVersion, kind and a DNS-style metadata.name;
 * Istio's networking and security kinds are checked against their CRD schemas.
 */
export function validateManifest(
  object: unknown,
  { source = 'manifest' }: { source?: string } = {},
): KubeManifest {
  const structural = structuralProblems(object);
  if (structural.length > 0) {
    throw new Error(`${source}: not a Kubernetes object: ${structural.join('; ')}`);
  }
  const manifest = object as KubeManifest;
  const subject = `${manifest.kind} "${manifest.metadata.name}" (${manifest.apiVersion})`;
  const group = manifest.apiVersion.includes('/') ? manifest.apiVersion.split('/')[0] : '';
  const Model = ISTIO_MODELS.get(`${manifest.apiVersion}/${manifest.kind}`);
  if (!Model) {
    if (group && ISTIO_GROUPS.has(group)) {
      throw new Error(
        `${source}: ${subject} has no known schema; Istio serves ${[...ISTIO_MODELS.keys()]
          .filter((key) => key.startsWith(`${group}/`))
          .join(', ')}`,
      );
    }
    return manifest;
  }
  try {
    new Model(manifest as never).validate();
  } catch (error) {
    throw new Error(`${source}: ${subject} does not match its schema: ${schemaErrorText(error)}`, {
      cause: error,
    });
  }
  return manifest;
}

const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?$/;

function structuralProblems(object: unknown): string[] {
  if (!isRecord(object)) return [`expected a mapping, got ${JSON.stringify(object)}`];
  const problems: string[] = [];
  for (const field of ['apiVersion', 'kind'] as const) {
    const value = object[field];
    if (typeof value !== 'string' || value === '')
      problems.push(`${field} must be a non-empty string`);
  }
  const { metadata } = object;
  if (!isRecord(metadata)) {
    problems.push('metadata must be a mapping');
  } else {
    const { name, namespace } = metadata;
    if (typeof name !== 'string' || !DNS_SUBDOMAIN.test(name) || name.length > 253) {
      problems.push(`metadata.name must be a lower-case DNS name, got ${JSON.stringify(name)}`);
    }
    if (
      namespace !== undefined &&
      (typeof namespace !== 'string' || !DNS_SUBDOMAIN.test(namespace))
    ) {
      problems.push(
        `metadata.namespace must be a lower-case DNS name, got ${JSON.stringify(namespace)}`,
      );
    }
  }
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The shape of the generated model classes: data in, `validate()` throws on a schema error. */
interface IstioModelClass {
  apiVersion: string;
  kind: string;
  new (data: never): { validate(): void };
}

const ISTIO_GROUPS = new Set(['networking.istio.io', 'security.istio.io']);

/**
 * `apiVersion/kind` → model class, collected from the packages' versioned namespaces
 * (`networkingIstioIo.v1.VirtualService`, …) so that every served version is covered.
 */
const ISTIO_MODELS: ReadonlyMap<string, IstioModelClass> = (() => {
  const models = new Map<string, IstioModelClass>();
  const visit = (value: unknown): void => {
    if (isModelClass(value)) {
      models.set(`${value.apiVersion}/${value.kind}`, value);
    } else if (isRecord(value)) {
      Object.values(value).forEach(visit);
    }
  };
  visit({ ...networkingIstioIo });
  visit({ ...securityIstioIo });
  return models;
})();

function isModelClass(value: unknown): value is IstioModelClass {
  if (typeof value !== 'function') return false;
  const candidate = value as unknown as Partial<Record<'apiVersion' | 'kind', unknown>>;
  return typeof candidate.apiVersion === 'string' && typeof candidate.kind === 'string';
}

/** The parts of ajv's error objects that the generated validators fill in. */
interface SchemaError {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/** Renders ajv errors as `spec.http[0].route[0]: must have required property destination`. */
function schemaErrorText(error: unknown): string {
  const errors =
    isRecord(error) && Array.isArray(error.errors) ? (error.errors as SchemaError[]) : [];
  if (errors.length === 0) return error instanceof Error ? error.message : String(error);
  return errors
    .map((e) => {
      const allowed =
        e.keyword === 'enum' && Array.isArray(e.params?.allowedValues)
          ? ` (${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')})`
          : '';
      return `${fieldPath(e.instancePath ?? '')}: ${e.message ?? e.keyword ?? 'invalid'}${allowed}`;
    })
    .join('; ');
}

/** Turns a JSON pointer (`/spec/http/0/route`) into the dotted form `spec.http[0].route`. */
function fieldPath(pointer: string): string {
  let path = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (/^\d+$/.test(part)) path += `[${part}]`;
    else path += path ? `.${part}` : part;
  }
  return path || '(root)';
}
