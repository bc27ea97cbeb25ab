/**
 * A manifest the cluster refuses must fail the run with the cluster's own words, as on a real
 * cluster with Istio: the API server checks the CRD's schema first, then Istio's validating
 * webhook (`validation.istio.io`) checks the rest (harness/facts/istio-validation.ts).
 *
 * A webhook denial exits 1, not 2: the refused object is the configuration under test (the
 * bundled manifests, or the `--manifests` a user brings), the cluster answered correctly, and
 * only the cluster's Istio could tell (its rules change between versions). The behaviour the
 * configuration should set up does not hold, which is for whoever owns the mesh
 * configuration to fix. Exit 2 stays for what keeps any verdict from being reached: no
 * Docker, an unreachable cluster, a bad flag, or manifests that do not even match the CRD
 * schema the CLI checks offline before it starts.
 */
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runSimulated, ISTIO_API_ONLY } from './cli.ts';

const MANIFESTS = fileURLToPath(new URL('../../manifests', import.meta.url));
const FILE = 'passthrough/istio-api/virtual-service.yaml';
// The gateway-side TLS route's SNI match, the second of the two.
const GATEWAY_SNI =
  /( {10}port: 443\n) {10}sniHosts:\n {12}- \{\{host\}\}\n(?=( {6}route:\n {8}- destination:\n {12}host: \{\{host\}\}))/;

async function manifestsWith(replacement: string): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'egc-manifests-'));
  await cp(MANIFESTS, root, { recursive: true });
  const file = path.join(root, FILE);
  const text = await readFile(file, 'utf8');
  const changed = text.replace(GATEWAY_SNI, replacement);
  if (changed === text) throw new Error(`the sniHosts of ${FILE} were not found`);
  await writeFile(file, changed);
  return root;
}

async function run(manifests: string) {
  return runSimulated([
    '--suite',
    'passthrough',
    '--mtls',
    'disabled',
    ...ISTIO_API_ONLY,
    '--manifests',
    manifests,
  ]);
}

describe('a manifest the cluster refuses fails the run with the refusal', () => {
  it.concurrent(
    "sniHosts: [] passes the CRD schema and is denied by Istio's webhook",
    { timeout: 900_000 },
    async () => {
      const run1 = await run(await manifestsWith('$1          sniHosts: []\n'));
      const message =
        'admission webhook "validation.istio.io" denied the request: configuration is invalid: TLS match must have at least one SNI host';
      expect(run1.exitCode, run1.stdout).toBe(1);
      expect(run1.stdout).toContain(message);
      const failed = run1.cases.filter((c) => c.failure !== undefined);
      expect(failed.map((c) => c.failure).join('\n')).toContain(message);
    },
  );

  it.concurrent(
    'sniHosts removed never reaches the webhook: the CRD requires it, so the run refuses the manifests first (exit 2)',
    { timeout: 900_000 },
    async () => {
      // On a cluster the API server would answer 422 `VirtualService.networking.istio.io
      // "passthrough" is invalid: spec.tls[1].match[0].sniHosts: Required value`
      // (simulator/api/istio-schema.test.ts); the CLI checks manifests against the same CRD
      // schema before it touches a cluster and calls that a bad --manifests.
      const run2 = await run(await manifestsWith('$1'));
      expect(run2.exitCode, run2.stdout + run2.stderr).toBe(2);
      expect(run2.stdout + run2.stderr).toContain(
        'spec.tls[1].match[0]: must have required property sniHosts',
      );
      expect(run2.stdout + run2.stderr).not.toContain('admission webhook');
    },
  );
});
