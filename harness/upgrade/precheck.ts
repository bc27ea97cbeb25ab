/**
 * `istioctl x precheck` before an upgrade, judged the way istioctl reports it
 * (ISTIOCTL_PRECHECK): exit 0 is a safe cluster; exit 1 with messages on stdout is a cluster
 * precheck found unsafe (an `Error` message: the run stops with exit 2 before anything
 * changes) or one with warnings (reported, the run goes on); exit 1 without a message is the
 * command failing (exit 2 as well, with what it said).
 */
import { EnvironmentError } from '../errors.ts';
import { lastLines, type ToolOutput } from '../binaries.ts';
import { ISTIOCTL_PRECHECK, atOrAbove, printedAnalyzerMessages } from '../facts/istioctl.ts';
import { istioctlOutput, type StepContext } from './steps.ts';

/** Where an on-call engineer looks up a message code. */
const ANALYSIS_DOCS = 'https://istio.io/latest/docs/reference/config/analysis/';

/** The warnings of a precheck that let the upgrade go on; throws when it must not. */
export function judgePrecheck(output: ToolOutput, command: string): { warnings: string[] } {
  const messages = printedAnalyzerMessages(output.stdout);
  const errors = messages.filter((message) => message.level === 'Error');
  if (errors.length > 0) {
    throw new EnvironmentError(
      `${command} found the cluster not safe to upgrade: ${errors.map((e) => e.line).join('; ')}; fix that before upgrading (each code is explained at ${ANALYSIS_DOCS}).`,
    );
  }
  const warnings = messages
    .filter((message) => atOrAbove(message.level, ISTIOCTL_PRECHECK.failureThreshold))
    .map((message) => message.line);
  if (output.exitCode !== 0 && warnings.length === 0) {
    const said = lastLines(output.stderr, 3);
    throw new EnvironmentError(
      `${command} failed: exited ${output.exitCode} without a finding${said ? ` (${said})` : ''}; check that istioctl reaches the cluster with this kubeconfig.`,
    );
  }
  return { warnings };
}

/** Runs `istioctl x precheck` against the run's cluster and judges it. */
export async function precheck(context: StepContext): Promise<{ warnings: string[] }> {
  const what = 'istioctl x precheck';
  const output = await istioctlOutput(context, [...ISTIOCTL_PRECHECK.args], what, [
    ISTIOCTL_PRECHECK.issuesExitCode,
  ]);
  return judgePrecheck(output, what);
}
