/**
 * The suites read the mesh, not the manifests: altering what they apply (the mistakes
 * users make) must turn the affected suite red on the simulated cluster, as it would
 * on real Istio.
 */
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FAILING_RUN_TIMEOUTS, ISTIO_API_ONLY, runInProcess } from './cli.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests', import.meta.url));

interface Mutation {
  name: string;
  file: string;
  from: string | RegExp;
  to: string;
  suite: string;
  failing: RegExp;
}

const MUTATIONS: Mutation[] = [
  {
    name: 'VirtualService without "mesh" in its gateways',
    file: 'http-gateway/istio-api/virtual-service.yaml',
    from: /\n {4}- mesh\n/,
    to: '\n',
    suite: 'http-gateway',
    failing: /^B1\.[12] /,
  },
  {
    name: 'DestinationRule subset renamed',
    file: 'http-gateway/istio-api/destination-rule.yaml',
    from: '- name: {{subset}}',
    to: '- name: renamed-subset',
    suite: 'http-gateway',
    failing: /^B1\.[12] /,
  },
  {
    name: 'Gateway selector matching no gateway pod',
    file: 'http-gateway/istio-api/gateway.yaml',
    from: '{{gatewaySelectorKey}}: {{gatewaySelectorValue}}',
    to: '{{gatewaySelectorKey}}: no-such-gateway',
    suite: 'http-gateway',
    failing: /^B1\.[12] /,
  },
  {
    name: 'SIMPLE written where PASSTHROUGH belongs',
    file: 'passthrough/istio-api/gateway.yaml',
    from: 'mode: PASSTHROUGH',
    to: 'mode: SIMPLE\n        credentialName: egress-conformance-missing',
    suite: 'passthrough',
    failing: /^B3\.[12] /,
  },
];

async function mutatedManifests(mutation: Mutation): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'egc-manifests-'));
  await cp(MANIFESTS, root, { recursive: true });
  const file = path.join(root, mutation.file);
  const text = await readFile(file, 'utf8');
  const changed = text.replace(mutation.from, mutation.to);
  if (changed === text)
    throw new Error(`mutation "${mutation.name}" did not apply to ${mutation.file}`);
  await writeFile(file, changed);
  return root;
}

describe('altered manifests turn the affected suite red', () => {
  it.concurrent.each(MUTATIONS.map((m) => [m.name, m] as const))(
    '%s',
    { timeout: 900_000 },
    async (_name, mutation) => {
      const manifests = await mutatedManifests(mutation);
      const run = await runInProcess([
        '--suite',
        mutation.suite,
        '--mtls',
        'disabled',
        ...ISTIO_API_ONLY,
        '--manifests',
        manifests,
        ...FAILING_RUN_TIMEOUTS,
      ]);
      expect(run.exitCode, run.stdout).toBe(1);
      const failed = run.cases.filter((c) => c.failure !== undefined).map((c) => c.name);
      expect(
        failed.some((name) => mutation.failing.test(name)),
        failed.join('\n'),
      ).toBe(true);
    },
  );

  it.concurrent(
    'the unaltered copy passes, so the failures above come from the alterations',
    { timeout: 900_000 },
    async () => {
      const root = await mkdtemp(path.join(tmpdir(), 'egc-manifests-'));
      await cp(MANIFESTS, root, { recursive: true });
      const run = await runInProcess([
        '--suite',
        'http-gateway,passthrough',
        '--mtls',
        'disabled',
        ...ISTIO_API_ONLY,
        '--manifests',
        root,
      ]);
      expect(run.exitCode, run.stdout).toBe(0);
    },
  );
});
