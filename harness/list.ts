/** `--list`: every suite of the registry with its behaviours, variants and cases. */
import { SUITES } from '../suites/index.ts';
import { caseId, isCase, selectedVariants, type Suite } from './suite-definition.ts';
import { API_NAMES, MTLS_MODES, variantLabel } from './variants.ts';

/** The listing, one block per suite; what `--list` prints. */
export function listSuites(suites: readonly Suite[] = SUITES): string {
  const indent = ' '.repeat(18);
  return suites
    .map((suite) => {
      const variants = selectedVariants(suite, { mtlsModes: MTLS_MODES, apis: API_NAMES });
      const lines = [`${suite.name.padEnd(16)}  ${suite.description}`];
      lines.push(`${indent}behaviours: ${suite.behaviours.join(', ')}`);
      for (const variant of variants) {
        const behaviour = suite.behaviour(variant);
        const cases = suite.steps
          .filter(isCase)
          .filter((step) => !step.inVariant || step.inVariant(variant))
          .map((step) => caseId(behaviour, step.id));
        lines.push(`${indent}[${variantLabel(variant)}] ${[...cases, 'B6'].join(' ')}`);
      }
      return lines.join('\n');
    })
    .join('\n');
}
