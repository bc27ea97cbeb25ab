/**
 * The JUnit report, written by the CLI from the executor's case results. Our own writer: each test case carries properties (cluster kind, Istio
 * version, mTLS mode, observations), the real conformance message, flaky marks, and
 * `[[ATTACHMENT|path]]` lines for diagnostics, which Jenkins and GitLab pick up.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderFailure, type FailureFields } from '../errors.ts';
import type { RunContext } from '../run-context.ts';
import type { EgressMeta } from '../executor.ts';

/** One test case's outcome, as the reports need it. */
export interface CaseResult {
  suite: string;
  group: string;
  name: string;
  state: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  /** The error messages as thrown; for a conformance failure, rendered from {@link failure}. */
  message?: string;
  /** The error's class name: an EnvironmentError inside a suite makes the run exit 2. */
  errorName?: string;
  /** A conformance failure's fields, with the diagnostics folder added: what the reports print. */
  failure?: FailureFields;
  skipReason?: string;
  /** The error's stack and causes, for `--verbose` on the console (never in a report). */
  stack?: string;
  meta: EgressMeta & { variant?: string };
}

/**
 * The folder of a failed test's diagnostics, from the files the suite runner recorded
 * (`<folder>/index.txt` first); undefined when collection failed or did not run.
 */
export function diagnosticsFolder(files: readonly string[] | undefined): string | undefined {
  const index = files?.[0];
  return index?.endsWith('/index.txt') ? path.posix.dirname(index) : undefined;
}

/** A case's failure as the reports print it: rendered from its fields, else its message. */
export function failureText(entry: CaseResult): string {
  return entry.failure ? renderFailure(entry.failure) : (entry.message ?? 'failed');
}

/** Renders the JUnit XML for a run. */
export function renderJUnit(
  run: RunContext,
  cases: readonly CaseResult[],
  startedAt: Date,
): string {
  const target = run.target;
  const header = target.simulated
    ? 'SIMULATED cluster: a model of Istio for testing this suite, not a real mesh. These results certify nothing about a real Istio.'
    : `Istio ${target.istio.version} on ${target.kind} (Kubernetes ${target.kubernetesVersion})`;
  const runProperties: [string, string][] = [
    ['cluster.kind', target.kind],
    ['cluster.simulated', String(target.simulated)],
    ['istio.version', target.istio.version],
    ['istio.revision', target.istio.revision],
    ['kubernetes.version', target.kubernetesVersion],
    ['cni', target.cni],
    ['run.id', run.runId],
  ];
  if (target.kindVersion) runProperties.push(['kind.version', target.kindVersion]);
  const bySuite = new Map<string, CaseResult[]>();
  for (const entry of cases) bySuite.set(entry.suite, [...(bySuite.get(entry.suite) ?? []), entry]);
  const count = (list: readonly CaseResult[], state: CaseResult['state']): number =>
    list.filter((entry) => entry.state === state).length;
  const seconds = (ms: number): string => (ms / 1000).toFixed(3);
  const lines: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<!-- egress-conformance: ${esc(header)} -->`,
  ];
  const title = target.simulated ? 'egress-conformance (SIMULATED cluster)' : 'egress-conformance';
  const total = cases.reduce((sum, entry) => sum + entry.durationMs, 0);
  lines.push(
    `<testsuites name="${esc(title)}" tests="${cases.length}" failures="${count(cases, 'failed')}" errors="0" skipped="${count(cases, 'skipped')}" time="${seconds(total)}" timestamp="${startedAt.toISOString()}">`,
  );
  for (const [suite, list] of bySuite) {
    lines.push(
      `  <testsuite name="${esc(suite)}" tests="${list.length}" failures="${count(list, 'failed')}" errors="0" skipped="${count(list, 'skipped')}" time="${seconds(list.reduce((s, e) => s + e.durationMs, 0))}" timestamp="${startedAt.toISOString()}">`,
    );
    lines.push('    <properties>');
    for (const [name, value] of runProperties)
      lines.push(`      <property name="${esc(name)}" value="${esc(value)}"/>`);
    lines.push('    </properties>');
    for (const entry of list) lines.push(...renderCase(entry, runProperties));
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>', '');
  return lines.join('\n');
}

function renderCase(entry: CaseResult, runProperties: [string, string][]): string[] {
  const properties: [string, string][] = [
    ...runProperties.filter(([name]) => ['cluster.kind', 'istio.version'].includes(name)),
  ];
  // The variant's axes, as the suite runner recorded them from the suite value.
  if (entry.meta.mtls) properties.push(['mtls.mode', entry.meta.mtls]);
  if (entry.meta.api) properties.push(['api', entry.meta.api]);
  if (entry.meta.behaviour) properties.push(['behaviour', entry.meta.behaviour]);
  for (const convergence of entry.meta.convergence ?? []) {
    properties.push([`observations.${convergence.behaviour}`, String(convergence.observations)]);
  }
  if (entry.meta.flaky) properties.push(['flaky', 'true']);
  // Evidence a check recorded (B4's counter source and values) as flat properties.
  if (entry.meta.notes && typeof entry.meta.notes === 'object') {
    for (const [key, value] of Object.entries(entry.meta.notes as Record<string, unknown>)) {
      if (['string', 'number', 'boolean'].includes(typeof value)) {
        properties.push([`evidence.${key}`, String(value)]);
      }
    }
  }
  // A conformance failure's fields, so CI can show them without reading the message.
  if (entry.failure) {
    const { failure } = entry;
    properties.push(['failure.behaviour', failure.behaviour], ['expected', failure.expected]);
    properties.push(['reason', failure.reason], ['observations', String(failure.observations)]);
    properties.push(['elapsed.ms', String(failure.elapsedMs)]);
    if (failure.budgetMs !== undefined) properties.push(['budget.ms', String(failure.budgetMs)]);
    if (failure.required !== undefined) properties.push(['required', String(failure.required)]);
    if (failure.flips !== undefined) properties.push(['flips', String(failure.flips)]);
    properties.push(['hint', failure.hint]);
    if (failure.diagnostics) properties.push(['diagnostics', failure.diagnostics]);
  }
  for (const [index, file] of (entry.meta.diagnostics ?? []).entries()) {
    properties.push([`attachment.${index + 1}`, file]);
  }
  // The name stays stable even when flaky: CI systems track a test's history by its name.
  const name = entry.name;
  const out: string[] = [
    `    <testcase classname="${esc(`${entry.suite}.${entry.group}`)}" name="${esc(name)}" time="${(entry.durationMs / 1000).toFixed(3)}">`,
    '      <properties>',
    ...properties.map(
      ([key, value]) => `        <property name="${esc(key)}" value="${esc(value)}"/>`,
    ),
    '      </properties>',
  ];
  if (entry.state === 'failed') {
    const message = failureText(entry);
    const firstLine = message.split('\n')[0] ?? message;
    out.push(
      `      <failure message="${esc(firstLine)}" type="${esc(entry.errorName ?? 'Error')}">${esc(message)}</failure>`,
    );
  } else if (entry.state === 'skipped') {
    out.push(`      <skipped message="${esc(entry.skipReason ?? 'skipped')}"/>`);
  }
  const systemOut: string[] = [];
  if (entry.meta.flaky) {
    systemOut.push(
      'FLAKY: passed only after its observations disagreed (see the observations.* properties)',
    );
  }
  if (entry.meta.kept?.length)
    systemOut.push(`Kept for debugging: namespaces ${entry.meta.kept.join(', ')}`);
  for (const file of entry.meta.diagnostics ?? []) systemOut.push(`[[ATTACHMENT|${file}]]`);
  if (systemOut.length > 0) out.push(`      <system-out>${esc(systemOut.join('\n'))}</system-out>`);
  out.push('    </testcase>');
  return out;
}

function esc(text: string): string {
  return (
    text
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      // Control characters (ANSI colours from tools) are not allowed in XML 1.0.
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
  );
}

/** Writes the JUnit file, creating its folder. */
export async function writeJUnit(file: string, xml: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, xml);
}
