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
import { LabelLocks } from '../../harness/label-lock.ts';
import { DEFAULT_TIMEOUTS } from '../../harness/timeouts.ts';
import { pollUntil } from '../../harness/wait.ts';
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

/** A CLI run against the served cluster; `output()` is what it printed so far. */
function start(name: string) {
  let printed = '';
  const started = (async () => {
    const reports = await mkdtemp(path.join(cluster.dir, `${name}-`));
    const child = execa(
      process.execPath,
      existingRunArgs(cluster, reports, ['--suite', 'network-policy,dr-lookup', ...ISTIO_API_ONLY]),
      { reject: false, cwd: reports, timeout: 180_000, env: { EGRESS_SIM_PROFILE: '' } },
    );
    child.stdout?.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    const result = await child;
    const xml = await readFile(path.join(reports, 'junit.xml'), 'utf8').catch(() => '');
    return { result, cases: parseJUnit(xml) };
  })();
  return { started, output: () => printed };
}

const HOLDER = 'concurrent-test';

describe('two runs at once on one existing cluster', { timeout: 900_000 }, () => {
  it('both pass and leave every borrowed label exactly as it was', async () => {
    const before = await sharedMetadata(cluster.kube);
    // The test holds kube-system's labels until both runs wait on a lock: their borrowing
    // then overlaps whatever the machine's load (run alone, each suite takes seconds, and one
    // run could end before the other starts). Each run borrows istio-system first, so one of
    // them holds it while the other waits for it: the runs also wait for each other.
    const held = new LabelLocks({
      kube: cluster.kube,
      identity: { run: HOLDER, owner: 'tests/e2e/concurrent.e2e.test.ts' },
      timeouts: DEFAULT_TIMEOUTS,
      log: () => undefined,
    });
    await held.borrow('kube-system', { 'kube-system': 'true' });
    // One CLI slot for the pair: with a slot each, the second could start after the first ended.
    const [first, second] = await withCliSlot(async () => {
      const runs = [start('first'), start('second')] as const;
      await pollUntil({
        what: 'both runs waiting for a borrowed-labels lock',
        timeoutMs: 120_000,
        observe: () => Promise.resolve(runs.map((run) => run.output())),
        done: (outputs) => outputs.every((output) => /waiting for namespace /.test(output)),
        describe: (outputs) => outputs.join('\n---\n'),
      }).finally(() => held.release());
      return Promise.all([runs[0].started, runs[1].started]);
    });
    for (const { result, cases } of [first, second]) {
      const output = `${String(result.stdout)}\n${String(result.stderr)}`;
      expect(result.exitCode, output).toBe(0);
      expect(cases.length, output).toBeGreaterThan(0);
      expect(cases.filter((c) => c.failure !== undefined).map((c) => c.name)).toEqual([]);
    }
    // Each waiting run said for whom: the test's hold, and one run for the other.
    const outputs = [first, second].map(({ result }) => String(result.stdout)).join('\n');
    expect(outputs).toMatch(
      new RegExp(`waiting for namespace kube-system: its labels are borrowed by run ${HOLDER} `),
    );
    expect(outputs).toMatch(
      /waiting for namespace istio-system: its labels are borrowed by run [0-9a-f]+ /,
    );
    expect(await sharedMetadata(cluster.kube)).toEqual(before);
    expect(await runNamespaces(cluster.kube)).toEqual([]);
  });
});
