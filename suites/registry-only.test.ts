// Binds the registry-only suite (suites/registry-only.ts) to vitest; the CLI runs this file.
import { declareSuite } from '../harness/suite-runner.ts';
import suite from './registry-only.ts';

declareSuite(suite);
