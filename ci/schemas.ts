/**
 * The official CI configuration schemas, loaded offline from npm packages, and an Ajv
 * validator for each in the JSON Schema draft the schema declares.
 *
 * No npm package publishes these schemas as plain files (`@schemastore/github-workflow` and
 * `@schemastore/gitlab-ci` hold only TypeScript types), so each is read from a package that
 * embeds it verbatim, pinned to an exact version in package.json because the extraction
 * depends on that build:
 * - GitHub: SchemaStore's `github-workflow.json`, stored as JSON text in the WebAssembly
 *   data of `@action-validator/core` (which validates workflows with it).
 * - GitLab: GitLab's own `ci.json` (its `fetch-schema` script copies it from gitlab-org/gitlab),
 *   bundled as an object literal into `gitlab-ci-local`'s `dist/index.js`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import vm from 'node:vm';
import { Ajv, type AnySchemaObject, type ErrorObject, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const require = createRequire(import.meta.url);

export const GITHUB_WORKFLOW_SCHEMA_ID = 'https://json.schemastore.org/github-workflow.json';
export const GITLAB_CI_SCHEMA_ID = 'https://gitlab.com/.gitlab-ci.yml';

/** SchemaStore's GitHub workflow schema, as embedded in `@action-validator/core`. */
export function loadGitHubWorkflowSchema(): AnySchemaObject {
  const wasmPath = join(
    dirname(require.resolve('@action-validator/core')),
    'action_validator_bg.wasm',
  );
  const bytes = readFileSync(wasmPath);
  // latin1 maps bytes 1:1 to chars, so offsets found here are byte offsets into the UTF-8.
  const text = bytes.toString('latin1');
  const idAt = text.indexOf(`"$id": "${GITHUB_WORKFLOW_SCHEMA_ID}"`);
  if (idAt < 0) {
    throw new Error(
      `${wasmPath} does not embed ${GITHUB_WORKFLOW_SCHEMA_ID}; was the package upgraded?`,
    );
  }
  // The document opens with `{`, `$comment` and `$id`: the nearest `{` before `$id` is its root.
  const start = text.lastIndexOf('{', idAt);
  const end = start + balancedLength(text, start);
  const schema = JSON.parse(bytes.subarray(start, end).toString('utf8')) as AnySchemaObject;
  return expectId(schema, GITHUB_WORKFLOW_SCHEMA_ID, wasmPath);
}

/** GitLab's CI schema, as bundled into `gitlab-ci-local`. */
export function loadGitLabCiSchema(): AnySchemaObject {
  const bundlePath = require.resolve('gitlab-ci-local');
  const text = readFileSync(bundlePath, 'utf8');
  const idAt = text.indexOf(`$id:"${GITLAB_CI_SCHEMA_ID}"`);
  if (idAt < 0) {
    throw new Error(
      `${bundlePath} does not embed ${GITLAB_CI_SCHEMA_ID}; was the package upgraded?`,
    );
  }
  const start = text.lastIndexOf('{$schema:', idAt);
  const literal = text.slice(start, start + balancedLength(text, start));
  // The schema is a minified object literal (unquoted keys, `!0` for true), not JSON. It is
  // evaluated alone, in an empty context with a time limit: data only, no access to the
  // bundle's code or to Node. The JSON round trip drops the other realm's prototypes.
  const value: unknown = vm.runInNewContext(`(${literal})`, {}, { timeout: 5_000 });
  const schema = JSON.parse(JSON.stringify(value)) as AnySchemaObject;
  return expectId(schema, GITLAB_CI_SCHEMA_ID, bundlePath);
}

/** Result of validating one document: the Ajv errors, formatted for a test failure. */
export interface SchemaVerdict {
  valid: boolean;
  errors: string[];
}

/** Compiles a schema with the Ajv class for the draft in its `$schema`. */
export function compileSchema(schema: AnySchemaObject): (document: unknown) => SchemaVerdict {
  const ajv = ajvFor(schema.$schema);
  // Editor hints that Ajv's strict mode would otherwise reject as unknown keywords.
  for (const keyword of [
    'markdownDescription',
    'deprecationMessage',
    'x-intellij-html-description',
  ]) {
    if (!ajv.getKeyword(keyword)) ajv.addKeyword(keyword);
  }
  const validate: ValidateFunction = ajv.compile(schema);
  return (document) => {
    const valid = validate(document);
    return { valid, errors: (validate.errors ?? []).map(formatError) };
  };
}

type AnyAjv = Ajv | Ajv2019 | Ajv2020;

function ajvFor(metaSchema: unknown): AnyAjv {
  // Both schemas break Ajv's strict rules on types, unions, `required` inside `not`, and
  // open tuples; strictness is lowered exactly there, so unknown keywords and formats
  // still fail compilation.
  const options = {
    allErrors: true,
    strict: true,
    strictTypes: false,
    strictRequired: false,
    strictTuples: false,
    allowUnionTypes: true,
  };
  let ajv: AnyAjv;
  switch (typeof metaSchema === 'string' ? metaSchema.replace(/#$/, '') : metaSchema) {
    case 'http://json-schema.org/draft-07/schema':
      ajv = new Ajv(options);
      break;
    case 'https://json-schema.org/draft/2019-09/schema':
      ajv = new Ajv2019(options);
      break;
    case 'https://json-schema.org/draft/2020-12/schema':
      ajv = new Ajv2020(options);
      break;
    default:
      throw new Error(`unsupported JSON Schema draft ${String(metaSchema)}`);
  }
  addFormats.default(ajv);
  return ajv;
}

function formatError(error: ErrorObject): string {
  const params = JSON.stringify(error.params);
  return `${error.instancePath || '/'} ${error.message ?? error.keyword} ${params} (${error.schemaPath})`;
}

function expectId(schema: AnySchemaObject, id: string, source: string): AnySchemaObject {
  if (schema.$id !== id) {
    throw new Error(`the schema found in ${source} has $id ${String(schema.$id)}, expected ${id}`);
  }
  return schema;
}

/**
 * Length of the object or array literal that opens at `start`, skipping brackets inside
 * JSON or JavaScript strings (double, single and template quotes).
 */
function balancedLength(text: string, start: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let index = start; index < text.length; index++) {
    const char = text[index];
    if (quote !== undefined) {
      if (char === '\\') index++;
      else if (char === quote) quote = undefined;
      continue;
    }
    if (char === '"' || char === "'" || char === '`') quote = char;
    else if (char === '{' || char === '[') depth++;
    else if (char === '}' || char === ']') {
      depth--;
      if (depth === 0) return index - start + 1;
    }
  }
  throw new Error(`unbalanced literal at offset ${start}`);
}
