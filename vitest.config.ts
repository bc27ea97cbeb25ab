// `npm test`: the project's own tests: unit tests beside the code (harness/, simulator/,
// ci/) and tests/ (the product against the simulated cluster). The conformance suites
// under suites/ are the product and run only through the CLI.
import { defineConfig } from 'vitest/config';

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
    // Each simulated conformance run starts its own workers; more than two at once on a
    // two-core machine turns convergence budgets into a measure of CPU contention.
    maxConcurrency: 2,
  },
});
