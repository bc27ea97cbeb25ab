/**
 * The Markdown summary (`reports/summary.md`, and the GitHub job summary): the page a
 * user reads first in the morning. It says what broke, shows the real message, points
 * at the diagnostics, and tells how to reach what was kept.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  behavioursOf,
  buildConformanceReport,
  caseTitle,
  type BehaviourReport,
  type ConformanceReport,
  type RunReport,
} from './conformance-report.ts';
import { capSize, redactSecrets, secretsFromKubeconfig } from './redact.ts';
import type { FailureFields } from '../errors.ts';

/** A failure message longer than this is cut in the summary (the JUnit has it whole). */
const MAX_MESSAGE_BYTES = 8 * 1024;
/** GitHub refuses a job summary over 1 MiB. */
const MAX_STEP_SUMMARY_BYTES = 1024 * 1024 - 1024;

/** Options of {@link renderSummary}. */
export interface SummaryOptions {
  /**
   * Links to diagnostics resolve only next to the reports folder; in the GitHub job
   * summary they would not, so there the paths are named as inside the artifact.
   */
  links?: boolean;
  now?: Date;
}

/** Renders the run's Markdown summary. */
export function renderSummary(
  report: RunReport,
  { links = true, now = new Date() }: SummaryOptions = {},
): string {
  const document = buildConformanceReport(report, now);
  const out: string[] = [];
  const verdict = document.result.toUpperCase();
  out.push(
    document.simulated
      ? `# Egress conformance: ${verdict} (SIMULATED cluster)`
      : `# Egress conformance: ${verdict}`,
    '',
  );
  if (document.note) out.push(`> **${document.note}**`, '');
  out.push(describeRun(document), '');

  if (document.setupFailure) {
    out.push(
      `## Setup failed at step \`${document.setupFailure.step}\``,
      '',
      'No behaviour was tested.',
      '',
      ...fenced(document.setupFailure.message),
      '',
    );
  }

  out.push(
    '| Behaviour | Result | Observations | Flaky |',
    '|---|---|---|---|',
    ...document.behaviours.map(
      (entry) =>
        `| ${entry.id} ${cell(entry.title)} | ${resultCell(entry)} | ${entry.observations ?? '–'} | ${entry.flaky ? '**yes**' : 'no'} |`,
    ),
    '',
  );
  if (document.mode.requiredObservations !== null) {
    out.push(
      `Observations: the most any check of the behaviour needed before ${document.mode.requiredObservations} consecutive ones agreed. Flaky: it passed only after its observations flipped.`,
      '',
    );
  }

  const failures = (report.cases ?? []).filter((entry) => entry.state === 'failed');
  if (failures.length > 0) {
    out.push('## Failures', '');
    for (const entry of failures) {
      const ids = behavioursOf(entry);
      const label = ids.length > 0 ? ` (${ids.join(', ')})` : '';
      out.push(
        `### ${cell(caseTitle({ name: entry.name, variant: entry.meta.variant }))} — ${entry.suite}${label}`,
        '',
        ...(entry.failure
          ? failureLines(entry.failure)
          : fenced(capSize(entry.message ?? 'failed', MAX_MESSAGE_BYTES))),
        '',
      );
      const files = entry.meta.diagnostics ?? [];
      if (files.length > 0) {
        out.push('Diagnostics:', '');
        for (const file of files) out.push(`- ${fileReference(file, links)}`);
        out.push('');
      }
    }
  }

  const kept = keptResourcesLines(report);
  if (kept.length > 0) out.push('## Kept for debugging', '', ...kept, '');

  if (report.junitFile) out.push(`JUnit: ${fileReference(report.junitFile, links)}`, '');
  return out.join('\n');
}

/** A conformance failure, field by field: what was expected, what happened, what to check. */
function failureLines(failure: FailureFields): string[] {
  const budget =
    failure.required !== undefined && failure.budgetMs !== undefined
      ? ` in ${failure.required} consecutive observations within ${failure.budgetMs} ms`
      : '';
  return [
    `- **Check:** ${failure.behaviour}`,
    `- **Expected:** ${inline(failure.expected)}${budget}`,
    `- **Did not hold** after ${failure.observations} observation${failure.observations === 1 ? '' : 's'} (${failure.elapsedMs} ms): ${inline(capSize(failure.reason, MAX_MESSAGE_BYTES))}`,
    `- **Hint:** ${inline(failure.hint)}`,
    '',
    'Last observation:',
    '',
    ...fenced(capSize(failure.observed.replace(/^\n/, ''), MAX_MESSAGE_BYTES)),
  ];
}

/** Text safe inside a Markdown paragraph: no markup, no HTML, on one line. */
function inline(text: string): string {
  return text
    .replace(/[\\`*_[\]|]/g, (char) => `\\${char}`)
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\s*\n\s*/g, ' ');
}

/**
 * How to reach what the run kept (`--keep-on-failure`): one `kubectl` line per kept
 * namespace, for the summary and for the CLI to print at the end of the run.
 */
export function keptResourcesLines(report: RunReport): string[] {
  const namespaces = [...new Set((report.cases ?? []).flatMap((c) => c.meta.kept ?? []))];
  const target = report.target;
  if (!target || (namespaces.length === 0 && !report.clusterKept)) return [];
  if (target.simulated) {
    return [
      `The simulated cluster stopped with the run; the kept namespaces (${namespaces.join(', ') || 'none'}) existed only in it. Their state is in the diagnostics.`,
    ];
  }
  const context = target.context ? ` --context ${target.context}` : '';
  const lines: string[] = [];
  if (report.clusterKept) {
    lines.push(
      `The ${target.kind} cluster was kept. Kubeconfig: \`${target.kubeconfigPath}\`${target.context ? `, context \`${target.context}\`` : ''}.`,
    );
  }
  if (namespaces.length > 0) {
    lines.push(
      `Namespaces of failed tests were kept (delete them when done):`,
      '',
      '```sh',
      ...namespaces.map(
        (namespace) =>
          `kubectl --kubeconfig ${target.kubeconfigPath}${context} -n ${namespace} get pods`,
      ),
      '```',
    );
  }
  return lines;
}

/**
 * Writes `summary.md` into `reportsDir` and appends the summary to
 * `$GITHUB_STEP_SUMMARY` when set; returns the files written.
 */
export async function writeSummary(
  reportsDir: string,
  report: RunReport,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const known = report.target ? await secretsFromKubeconfig(report.target.kubeconfigPath) : [];
  await mkdir(reportsDir, { recursive: true });
  const file = path.join(reportsDir, 'summary.md');
  await writeFile(file, redactSecrets(renderSummary(report), known));
  const written = [file];
  const stepSummary = env.GITHUB_STEP_SUMMARY;
  if (stepSummary) {
    const text = redactSecrets(renderSummary(report, { links: false }), known);
    await appendFile(stepSummary, `${capSize(text, MAX_STEP_SUMMARY_BYTES)}\n`);
    written.push(stepSummary);
  }
  return written;
}

function describeRun(document: ConformanceReport): string {
  const { implementation: impl, run, mode } = document;
  const what = impl.istio.version
    ? `Istio ${impl.istio.version}${impl.istio.revision && impl.istio.revision !== 'default' ? ` (revision ${impl.istio.revision})` : ''} on ${impl.clusterKind}, Kubernetes ${impl.kubernetesVersion ?? 'unknown'}${impl.kindVersion ? `, kind ${impl.kindVersion}` : ''}, CNI ${impl.cni ?? 'unknown'}`
    : `Istio ${impl.istio.requestedVersion} requested on ${impl.clusterKind} (not installed)`;
  const external = mode.external.mode
    ? `external host ${mode.external.mode}${mode.external.hosts.length > 0 ? ` (${mode.external.hosts.map((h) => h.name).join(', ')})` : ''}`
    : 'external host not set up';
  return [
    `${what}; mTLS ${mode.mtls.join(' and ')}; ${external}${impl.istio.outboundTrafficPolicy ? `; outbound traffic policy ${impl.istio.outboundTrafficPolicy}` : ''}.`,
    `Run \`${run.id}\`, started ${run.startTime}, ${formatDuration(run.durationSeconds)}: \`${run.commandLine}\``,
  ].join('  \n');
}

function resultCell(entry: BehaviourReport): string {
  const result = entry.result === 'failed' ? '**failed**' : entry.result;
  return entry.reason ? `${result}: ${cell(entry.reason)}` : result;
}

function fileReference(file: string, links: boolean): string {
  // The suite hook records a sentence instead of a path when collection itself failed.
  if (!/^[\w./-]+$/.test(file)) return cell(file);
  return links ? `[${file}](${encodeURI(file)})` : `\`${file}\` (in the reports artifact)`;
}

/** A fenced block whose fence is longer than any backtick run inside the text. */
function fenced(text: string): string[] {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return [`${fence}text`, text, fence];
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function formatDuration(totalSeconds: number): string {
  const whole = Math.round(totalSeconds);
  const minutes = Math.floor(whole / 60);
  return minutes > 0 ? `${minutes}m${String(whole % 60).padStart(2, '0')}s` : `${whole}s`;
}
