import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  MANIFESTS_ROOT,
  MAX_MANIFEST_BYTES,
  checkManifestTree,
  loadManifests,
  parseManifests,
  renderManifest,
  validateManifest,
} from './manifests.ts';

/** Every placeholder the project's manifests use, with realistic values. */
const FULL_VALUES: Record<string, string> = {
  name: 'egc-http-gateway',
  namespace: 'egc-run-1a2b',
  host: 'egress.example.test',
  gatewayHost: 'istio-egressgateway.istio-system.svc.cluster.local',
  subset: 'egress-example',
  gatewaySelectorKey: 'istio',
  gatewaySelectorValue: 'egressgateway',
  gatewayService: 'egc-http-gateway-istio',
  clientName: 'curl',
  clientImage: 'curlimages/curl:8.10.1',
};

/** Every folder under manifests/ that holds YAML, relative to the root. */
function manifestFolders(dir = MANIFESTS_ROOT): string[] {
  const entries = readdirSync(dir, { withFileTypes: true });
  const here = entries.some((e) => e.isFile() && e.name.endsWith('.yaml'))
    ? [relative(MANIFESTS_ROOT, dir)]
    : [];
  return [
    ...here,
    ...entries.filter((e) => e.isDirectory()).flatMap((e) => manifestFolders(join(dir, e.name))),
  ];
}

const tempRoots: string[] = [];
afterAll(() => {
  for (const root of tempRoots) rmSync(root, { recursive: true, force: true });
});

/** A manifests root in a temp folder holding the given files. */
function tempManifests(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'egc-manifests-'));
  tempRoots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe("the project's manifests", () => {
  const folders = manifestFolders();

  it('are found', () => {
    expect(folders).toEqual(
      expect.arrayContaining([
        'base',
        'http-gateway/istio-api',
        'http-gateway/istio-api/mtls',
        'passthrough/istio-api',
        'network-policy/istio-api',
      ]),
    );
  });

  it.each(folders)('%s renders with a full set of values and validates', (folder) => {
    const objects = loadManifests(folder, FULL_VALUES);
    const files = readdirSync(join(MANIFESTS_ROOT, folder)).filter((f) => f.endsWith('.yaml'));
    expect(objects.length).toBeGreaterThanOrEqual(files.length);
    for (const object of objects) {
      expect(JSON.stringify(object)).not.toContain('{{');
      expect(object.metadata.namespace).toBe(FULL_VALUES.namespace);
    }
  });

  it('each file loads on its own, with its values in place', () => {
    const [gateway] = loadManifests('passthrough/istio-api/gateway.yaml', FULL_VALUES);
    expect(gateway).toMatchObject({
      apiVersion: 'networking.istio.io/v1',
      kind: 'Gateway',
      metadata: { name: 'egc-http-gateway', namespace: 'egc-run-1a2b' },
      spec: {
        selector: { istio: 'egressgateway' },
        servers: [{ hosts: ['egress.example.test'], tls: { mode: 'PASSTHROUGH' } }],
      },
    });
  });

  it('a folder loads its files in name order, not recursing into subfolders', () => {
    const kinds = loadManifests('http-gateway/istio-api', FULL_VALUES).map((o) => o.kind);
    expect(kinds).toEqual(['DestinationRule', 'Gateway', 'ServiceEntry', 'VirtualService']);
  });

  it('reports a missing placeholder with the file and the placeholder', () => {
    const { host: _host, ...withoutHost } = FULL_VALUES;
    expect(() => loadManifests('http-gateway/istio-api/gateway.yaml', withoutHost)).toThrow(
      /manifests\/http-gateway\/istio-api\/gateway\.yaml: no value for placeholder \{\{host\}\} \(line 15\); values given: clientImage, clientName/,
    );
  });

  it('reports a path that does not exist', () => {
    expect(() => loadManifests('no-such-suite', FULL_VALUES)).toThrow(
      /Manifest no-such-suite not found/,
    );
  });
});

describe('renderManifest', () => {
  it('replaces placeholders, with or without inner spaces', () => {
    expect(renderManifest('a: {{x}}\nb: {{ y }}\n', { x: 'one', y: 'two' })).toBe(
      'a: one\nb: two\n',
    );
  });

  it('names every missing placeholder and the source, and ignores unused values', () => {
    expect(() =>
      renderManifest(
        'a: {{x}}\nb: {{y}}\nc: {{z}}\n',
        { y: 'ok', unused: 'fine' },
        {
          source: 'manifests/t.yaml',
        },
      ),
    ).toThrow(
      'manifests/t.yaml: no value for placeholder {{x}} (line 1), {{z}} (line 3); values given: unused, y',
    );
  });

  // Values YAML would read as something other than the string they are.
  const tricky = [
    'true',
    '80',
    'null',
    '',
    'a: b',
    'x # y',
    "it's",
    '@at',
    '*alias',
    '- x',
    '[a]',
    '{a}',
    'ü "q"',
    ' padded',
    'multi\nline',
  ];

  it.each(tricky)('inserts %j as a string scalar in every position', (value) => {
    const template = [
      'value: {{v}}',
      'list:',
      '  - {{v}}',
      'flow: [{{v}}, other]',
      'map:',
      '  {{v}}: key',
      'quoted: "pre-{{v}}-post"',
      "single: 'pre-{{v}}-post'",
    ].join('\n');
    if (value.includes('\n')) {
      expect(() => renderManifest(template, { v: value })).toThrow(/single-quoted/);
      return;
    }
    const parsed = parse(renderManifest(template, { v: value })) as Record<string, unknown>;
    expect(parsed.value).toBe(value);
    expect(parsed.list).toEqual([value]);
    expect(parsed.flow).toEqual([value, 'other']);
    expect(parsed.map).toEqual({ [value]: 'key' });
    expect(parsed.quoted).toBe(`pre-${value}-post`);
    expect(parsed.single).toBe(`pre-${value}-post`);
  });

  it('leaves plain-safe values unquoted so the YAML stays readable', () => {
    expect(renderManifest('host: {{h}}', { h: 'edition.cnn.com' })).toBe('host: edition.cnn.com');
    expect(renderManifest('port: {{p}}', { p: '80' })).toBe('port: "80"');
  });

  it('allows a placeholder inside a plain scalar only for values that need no quoting', () => {
    expect(renderManifest('name: egc-{{id}}-gw', { id: 'a1.b' })).toBe('name: egc-a1.b-gw');
    expect(() =>
      renderManifest('name: egc-{{id}}', { id: 'a: b' }, { source: 'manifests/t.yaml' }),
    ).toThrow(/manifests\/t\.yaml line 1: \{\{id\}\} is part of a longer plain scalar/);
  });

  it('fills placeholders in comments without quoting', () => {
    expect(renderManifest('# for {{h}}\na: 1', { h: 'x: y' })).toBe('# for x: y\na: 1');
  });
});

const VALID_VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: good
  namespace: egc
spec:
  hosts: [egress.example.test]
  http:
    - route:
        - destination:
            host: egress.example.test
`;

describe('validation', () => {
  it('rejects a VirtualService route without destination, naming file, object and path', () => {
    const root = tempManifests({
      'bad/virtual-service.yaml': `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {{name}}
spec:
  hosts: {{host}}
  http:
    - route:
        - weight: 100
`,
    });
    let message = '';
    try {
      loadManifests('bad', { name: 'bad-vs', host: 'egress.example.test' }, { root });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('manifests/bad/virtual-service.yaml (document 1)');
    expect(message).toContain('VirtualService "bad-vs" (networking.istio.io/v1)');
    expect(message).toContain('spec.hosts: must be array');
    expect(message).toContain('spec.http[0].route[0]: must have required property destination');
  });

  it('names the allowed values of an enum', () => {
    const gateway = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  servers:
    - port: {number: 443, name: tls, protocol: TLS}
      hosts: [egress.example.test]
      tls: {mode: PASSTHRU}
`;
    expect(() => parseManifests(gateway, { source: 'gw.yaml' })).toThrow(
      /gw\.yaml \(document 1\): Gateway "gw" \(networking\.istio\.io\/v1\) does not match its schema: spec\.servers\[0\]\.tls\.mode: must be equal to one of the allowed values \(.*"PASSTHROUGH".*\)/,
    );
  });

  it('checks every Istio version the package serves', () => {
    const v1alpha3 = VALID_VS.replace('networking.istio.io/v1', 'networking.istio.io/v1alpha3');
    expect(parseManifests(v1alpha3)).toHaveLength(1);
    expect(() =>
      parseManifests(v1alpha3.replace('hosts: [egress.example.test]', 'hosts: x')),
    ).toThrow(/spec\.hosts: must be array/);
    expect(() =>
      validateManifest({
        apiVersion: 'security.istio.io/v1',
        kind: 'PeerAuthentication',
        metadata: { name: 'strict' },
        spec: { mtls: { mode: 'STRICTEST' } },
      }),
    ).toThrow(/PeerAuthentication "strict".*spec\.mtls\.mode/);
  });

  it('rejects an Istio kind it has no schema for', () => {
    expect(() =>
      parseManifests(VALID_VS.replace('kind: VirtualService', 'kind: VirtualServce')),
    ).toThrow(/VirtualServce "good" \(networking\.istio\.io\/v1\) has no known schema/);
  });

  it('checks only the structure of core kinds', () => {
    const core = `apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
data: {anything: goes}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: Bad_Name
`;
    expect(() => parseManifests(core, { source: 'core.yaml' })).toThrow(
      'core.yaml (document 2): not a Kubernetes object: metadata.name must be a lower-case DNS name, got "Bad_Name"',
    );
    expect(() => parseManifests('kind: ConfigMap\nmetadata: {}\n')).toThrow(
      /apiVersion must be a non-empty string; metadata\.name must be a lower-case DNS name, got undefined/,
    );
    expect(() => parseManifests('- a\n- b\n')).toThrow(/expected a mapping/);
  });

  it('drops empty documents and keeps the order of the rest', () => {
    const text = `# header comment only\n---\n${VALID_VS}---\n---\n# trailing\n${VALID_VS.replace('name: good', 'name: second')}`;
    expect(parseManifests(text).map((o) => o.metadata.name)).toEqual(['good', 'second']);
    expect(parseManifests('')).toEqual([]);
  });

  it('reports YAML syntax errors with the source and position', () => {
    expect(() => parseManifests('a: [unclosed\n', { source: 'broken.yaml' })).toThrow(
      /broken\.yaml \(document 1\) is not valid YAML: .* at line \d+, column \d+/,
    );
  });

  it('reads a file as it is on disk, through a custom root', () => {
    const root = tempManifests({ 'one/vs.yaml': VALID_VS, 'one/notes.txt': 'ignored' });
    expect(loadManifests('one', {}, { root })).toHaveLength(1);
    expect(readFileSync(join(root, 'one/vs.yaml'), 'utf8')).toBe(VALID_VS);
  });
});

describe('checkManifestTree (--manifests, before any cluster work)', () => {
  const tree = (files: Record<string, string>): string => {
    const root = mkdtempSync(join(tmpdir(), 'egc-hostile-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(root, name), text);
    return root;
  };

  it('accepts the bundled manifests', () => {
    expect(checkManifestTree(MANIFESTS_ROOT)).toBeUndefined();
  });

  it('names a file that is not YAML, in one line', () => {
    const problem = checkManifestTree(tree({ 'x.yaml': '{{{ not: yaml: [' }));
    expect(problem).toMatch(/x\.yaml \(document 1\) is not valid YAML: /);
    expect(problem).not.toContain('\n');
  });

  it('refuses a YAML alias bomb without expanding it', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (const [index, name] of [...'bcdefghij'].entries()) {
      const previous = index === 0 ? 'a' : ('bcdefghij'[index - 1] ?? 'a');
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(',')}]`);
    }
    const bomb = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n${levels.map((l) => `  ${l}`).join('\n')}\n`;
    expect(checkManifestTree(tree({ 'x.yaml': bomb }))).toMatch(/Excessive alias count/);
  });

  it('refuses a file over the size limit without parsing it', () => {
    const big = `# ${'x'.repeat(MAX_MANIFEST_BYTES)}\n`;
    expect(checkManifestTree(tree({ 'x.yaml': big }))).toMatch(
      /more than the 1048576 bytes|more than the 1048576/,
    );
  });

  it('refuses object names that are not DNS names', () => {
    const bad = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_A_Name}\n';
    expect(checkManifestTree(tree({ 'x.yaml': bad }))).toMatch(
      /metadata\.name must be a lower-case DNS name/,
    );
  });

  it('says when the folder holds no manifests', () => {
    expect(checkManifestTree(tree({ 'readme.txt': 'hi' }))).toMatch(/holds no \*\.yaml files/);
  });
});
