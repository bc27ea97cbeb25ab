/**
 * The one registry of suites: `--list`, `--suite`, the runner, the reports and the fault
 * matrix all read it. Order is the order of listing and reporting; harness/executor.ts runs
 * the values.
 */
import type { Suite } from '../harness/suite-definition.ts';
import httpGateway from './http-gateway.ts';
import passthrough from './passthrough.ts';
import networkPolicy from './network-policy.ts';
import drLookup from './dr-lookup.ts';
import registryOnly from './registry-only.ts';

export const SUITES = [httpGateway, passthrough, networkPolicy, drLookup, registryOnly] as const;

/** A suite's name, as a type: a renamed suite breaks whatever names it. */
export type SuiteName = (typeof SUITES)[number]['name'];

/** The case ids of one suite, as a type (e.g. `CaseIdOf<'passthrough'>` is `'control' | '1' | …`). */
export type CaseIdOf<N extends SuiteName> = Extract<
  (typeof SUITES)[number],
  { name: N }
>['caseIds'][number];

/** Looks a suite up by name. */
export function findSuite(name: string): Suite | undefined {
  return (SUITES as readonly Suite[]).find((suite) => suite.name === name);
}
