// Binds the http-gateway suite (suites/http-gateway.ts) to vitest; the CLI runs this file.
import { declareSuite } from '../harness/suite-runner.ts';
import suite from './http-gateway.ts';

declareSuite(suite);
