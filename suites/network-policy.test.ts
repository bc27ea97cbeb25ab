// Binds the network-policy suite (suites/network-policy.ts) to vitest; the CLI runs this file.
import { declareSuite } from '../harness/suite-runner.ts';
import suite from './network-policy.ts';

declareSuite(suite);
