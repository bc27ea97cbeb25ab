// Binds the passthrough suite (suites/passthrough.ts) to vitest; the CLI runs this file.
import { declareSuite } from '../harness/suite-runner.ts';
import suite from './passthrough.ts';

declareSuite(suite);
