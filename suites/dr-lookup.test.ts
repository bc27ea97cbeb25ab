// Binds the dr-lookup suite (suites/dr-lookup.ts) to vitest; the CLI runs this file.
import { declareSuite } from '../harness/suite-runner.ts';
import suite from './dr-lookup.ts';

declareSuite(suite);
