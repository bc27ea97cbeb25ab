// `npm test`: the harness's own tests (co-located *.test.ts under harness/). The
// conformance suites under suites/ are the product and run only through the CLI.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['harness/**/*.test.ts', 'ci/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
