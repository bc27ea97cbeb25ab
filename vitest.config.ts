// `npm test`: the project's own tests: unit tests beside the code (harness/, simulator/,
// ci/) and tests/ (the product against the simulated cluster). The conformance suites
// under suites/ are the product and run only through the CLI.
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

// Hundreds of Node processes (workers, spawned CLI runs, the stand-ins) load
// the same modules; V8's on-disk code cache spares each one compiling them again.
process.env.NODE_COMPILE_CACHE ??= path.join(tmpdir(), 'egress-conformance-compile-cache');

/**
 * The end-to-end files spend minutes waiting on the CLI runs they start, the integration
 * files seconds on the processes they start; started first, their waits overlap with
 * everything else instead of ending the run. Among the end-to-end files, the ones with the
 * most CLI runs (measured: each takes minutes of the whole run's wall time) go first, so that
 * none of them starts late and becomes the run's tail.
 */
const LONGEST_FIRST = ['interrupts', 'conformance', 'kind-path', 'upgrade', 'mutations'];

class WaitingFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const weight = (file: TestSpecification): number => {
      const e2e = /\/([^/]+)\.e2e\.test\.ts$/.exec(file.moduleId);
      if (e2e) {
        const rank = LONGEST_FIRST.indexOf(e2e[1] ?? '');
        return rank === -1 ? 10 : 20 - rank;
      }
      return /\/tests\/integration\//.test(file.moduleId) ? 1 : 0;
    };
    return (await super.sort(files)).sort((a, b) => weight(b) - weight(a));
  }
}

export default defineConfig({
  test: {
    include: [
      'harness/**/*.test.ts',
      'simulator/**/*.test.ts',
      'tests/**/*.test.ts',
      'ci/**/*.test.ts',
    ],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // A worker runs its files in one module graph instead of a fresh process each: every
    // file otherwise loaded the Kubernetes client and the harness again, a third of the
    // run's CPU on two cores. The tests restore what they change (env, timers).
    isolate: false,
    // The end-to-end files mostly wait for their CLI runs, which tests/e2e/cli.ts limits
    // machine-wide (CLI_SLOTS); the other workers keep the cores busy meanwhile. Vitest's
    // default on two cores is one worker, which queued every file behind the CLI runs; with
    // four, the files queued behind the longest ones left the cores idle for a quarter of the
    // run while a late file's runs waited their turn one by one.
    maxWorkers: 6,
    sequence: { sequencer: WaitingFilesFirst },
    // Concurrent tests of one file at once. Their CLI runs wait for a machine-wide CLI slot
    // (tests/e2e/cli.ts), which is what bounds the load; with two, the fault matrix's runs went
    // two at a time and the file ended the whole run minutes after the others.
    maxConcurrency: 8,
  },
});
