/**
 * Two runs at once against one existing cluster (issue 10, item 5): both give their verdict
 * and every label they borrowed on the shared namespaces is exactly as before, with no lock
 * and no namespace of theirs left. The runs take turns on the shared namespaces' labels
 * through the lock in harness/label-lock.ts (tested on its own in
 * tests/integration/label-lock.test.ts).
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJUnit, withCliSlot, ISTIO_API_ONLY } from './cli.ts';
import {
  existingRunArgs,
  runNamespaces,
  serveCluster,
  sharedMetadata,
  type ServedCluster,
} from './served-cluster.ts';

let cluster: ServedCluster;

beforeAll(async () => {
  cluster = await serveCluster();
});

afterAll(async () => {
  await cluster.stop();
});

async function run(name: string) {
  const reports = await mkdtemp(path.join(cluster.dir, `${name}-`));
  const result = await execa(
    process.execPath,
    existingRunArgs(cluster, reports, ['--suite', 'network-policy,dr-lookup', ...ISTIO_API_ONLY]),
    { reject: false, cwd: reports, timeout: 180_000, env: { EGRESS_SIM_PROFILE: '' } },
  );
  const xml = await readFile(path.join(reports, 'junit.xml'), 'utf8').catch(() => '');
  return { result, cases: parseJUnit(xml) };
}

describe('two runs at once on one existing cluster', { timeout: 900_000 }, () => {
  it('both pass and leave every borrowed label exactly as it was', async () => {
    const before = await sharedMetadata(cluster.kube);
    // One CLI slot for the pair: with a slot each, the second could start after the first ended.
    const [first, second] = await withCliSlot(() => Promise.all([run('first'), run('second')]));
    for (const { result, cases } of [first, second]) {
      const output = `${String(result.stdout)}\n${String(result.stderr)}`;
      expect(result.exitCode, output).toBe(0);
      expect(cases.length, output).toBeGreaterThan(0);
      expect(cases.filter((c) => c.failure !== undefined).map((c) => c.name)).toEqual([]);
    }
    // Both runs borrowed the same labels: one waited for the other and said for whom.
    const outputs = [first, second].map(({ result }) => String(result.stdout)).join('\n');
    expect(outputs).toMatch(
      /waiting for namespace (istio-system|kube-system): its labels are borrowed by run /,
    );
    expect(await sharedMetadata(cluster.kube)).toEqual(before);
    expect(await runNamespaces(cluster.kube)).toEqual([]);
  });
});
