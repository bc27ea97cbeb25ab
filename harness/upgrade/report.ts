/**
 * An upgrade run's reports: the usual JUnit, conformance.yaml/json and summary.md with the
 * cases of both phases, plus the `upgrade` section (versions, style, timed steps, the
 * disruption table) in the conformance report and the table in summary.md.
 */
import path from 'node:path';
import { appendFile, mkdir } from 'node:fs/promises';
import { ISTIOCTL_EXIT, type AnalyzerLevel } from '../facts/istioctl.ts';
import type { RunContext } from '../run-context.ts';
import { renderJUnit, writeJUnit, type CaseResult } from '../reporting/junit.ts';
import { writeConformanceReports, type RunReport } from '../reporting/conformance-report.ts';
import { writeSummary } from '../reporting/summary.ts';
import type { UpgradeMode, UpgradeOptions } from './options.ts';
import {
  CONNECTION_ROW,
  describeDisruption,
  disruptionMarkdown,
  type PathDisruption,
  type UpgradeStep,
} from './disruption.ts';

/** Which proxy versions the probe clients and the ready gateway pods ran when read. */
export interface ProxyVersions {
  /** The window the versions were read for (a mixed-version step, or the check). */
  label: string;
  at: string;
  clients: string[];
  gateway: string[];
  /** Whether old and new proxies ran at once; null where a side had no proxy to read. */
  mixed: boolean | null;
}

/** `istioctl analyze -n <namespace>` after the upgrade. */
export interface AnalyzeResult {
  namespace: string;
  /** What it printed: the messages (stdout), then its verdict (stderr). */
  output: string;
  /** It exited 79 (ISTIOCTL_EXIT): a message at or above `failureThreshold`. Reported, not failed. */
  foundIssues: boolean;
  /** The `--failure-threshold` it ran with. */
  failureThreshold: AnalyzerLevel;
}

/** What the section says beside the disruption table. */
export interface SectionNotes {
  precheckWarnings: string[];
  analyze: AnalyzeResult[];
  /** Why `istioctl analyze` did not run, where it did not. */
  analyzeNotRun?: string;
  proxyVersions: ProxyVersions[];
  /** Two-phase mode: the id `--disruption check` takes. */
  id?: string;
}

/** The `upgrade` section of conformance.yaml/json. */
export interface UpgradeSection extends SectionNotes {
  mode: UpgradeMode;
  from: string;
  to: string;
  /** In place or canary; null where other tooling upgraded (`--disruption`). */
  style: string | null;
  probeIntervalMs: number;
  maxDisruption: number;
  result: 'passed' | 'failed' | 'not measured';
  steps: { name: string; startedAt: string; endedAt: string | null }[];
  disruption: (PathDisruption & { result: 'passed' | 'failed' })[];
}

/** Builds the section from what the run measured. */
export function upgradeSection({
  upgrade,
  steps,
  rows,
  precheckWarnings = [],
  analyze = [],
  analyzeNotRun,
  proxyVersions = [],
  id,
}: {
  upgrade: UpgradeOptions;
  steps: readonly UpgradeStep[];
  rows: readonly PathDisruption[];
} & Partial<SectionNotes>): UpgradeSection {
  const disruption = rows.map((row) => ({
    ...row,
    result: row.failed > upgrade.maxDisruption ? ('failed' as const) : ('passed' as const),
  }));
  return {
    mode: upgrade.mode,
    from: upgrade.from,
    to: upgrade.to,
    style: upgrade.mode === 'upgrade' ? upgrade.style : null,
    probeIntervalMs: upgrade.probeIntervalMs,
    maxDisruption: upgrade.maxDisruption,
    result:
      disruption.length === 0
        ? 'not measured'
        : disruption.some((row) => row.result === 'failed')
          ? 'failed'
          : 'passed',
    steps: steps.map((step) => ({
      name: step.name,
      startedAt: step.startedAt.toISOString(),
      endedAt: step.endedAt?.toISOString() ?? null,
    })),
    disruption,
    precheckWarnings,
    analyze,
    ...(analyzeNotRun === undefined ? {} : { analyzeNotRun }),
    proxyVersions,
    ...(id === undefined ? {} : { id }),
  };
}

/** One JUnit case per path: passed, or failed with the disruption figures in the message. */
export function disruptionCases(section: UpgradeSection, durationMs: number): CaseResult[] {
  const how =
    section.style === null
      ? `the upgrade ${section.from} -> ${section.to} done by other tooling`
      : `the ${section.style} upgrade ${section.from} -> ${section.to}`;
  return section.disruption.map((row) => {
    // The long-lived connection may break when its gateway pod drains (GATEWAY_TERMINATION_DRAIN);
    // what fails its case, as a path's, is failed requests: a reconnect that did not work.
    const subject =
      row.path === CONNECTION_ROW
        ? 'one long-lived TLS connection (a break when its gateway pod drains is reported, not counted)'
        : `the ${row.path} path`;
    return {
      suite: 'upgrade',
      group: 'disruption',
      name:
        row.path === CONNECTION_ROW
          ? `[upgrade] egress through the gateway stays up for ${subject} during ${how}`
          : `[upgrade] egress through the gateway stays up on ${subject} during ${how}`,
      state: row.result,
      durationMs,
      ...(row.result === 'failed'
        ? {
            message: `disruption on ${subject} exceeds --max-disruption ${section.maxDisruption}: ${describeDisruption([row])}`,
          }
        : {}),
      meta: {},
    };
  });
}

/**
 * The end of every upgrade entry (a whole run, `--disruption start`, `--disruption check`):
 * the report's last fields set and every report written. False when writing failed, which
 * `complain` has said; the run then ends with exit 2.
 */
export async function finishUpgradeReports({
  report,
  cases,
  section,
  complain,
  ...where
}: {
  reportsDir: string;
  junitPath: string;
  report: RunReport;
  cases: NonNullable<RunReport['cases']>;
  section: UpgradeSection;
  context: RunContext | undefined;
  started: Date;
  complain: (line: string) => void;
}): Promise<boolean> {
  report.cases = cases;
  report.finishedAt = new Date();
  report.upgrade = section;
  try {
    await writeUpgradeReports({ ...where, report });
    return true;
  } catch (error) {
    complain(
      `writing the reports failed: ${error instanceof Error ? error.message : String(error)}`,
    );
    return false;
  }
}

/** Writes every report; `report.cases` and `report.upgrade` must be set. */
export async function writeUpgradeReports({
  reportsDir,
  junitPath,
  report,
  context,
  started,
}: {
  reportsDir: string;
  junitPath: string;
  report: RunReport;
  context: RunContext | undefined;
  started: Date;
}): Promise<void> {
  await mkdir(reportsDir, { recursive: true });
  if (context) {
    await writeJUnit(path.resolve(junitPath), renderJUnit(context, report.cases ?? [], started));
  }
  await writeConformanceReports(reportsDir, report);
  await writeSummary(reportsDir, report);
  const section = report.upgrade;
  if (!section) return;
  const title =
    section.style === null
      ? `Disruption ${section.from} → ${section.to} (upgraded by other tooling${section.id ? `, id ${section.id}` : ''})`
      : `Upgrade ${section.from} → ${section.to} (${section.style})`;
  const steps = section.steps
    .map((step) => `${step.name} (${step.startedAt} – ${step.endedAt ?? '?'})`)
    .join('; ');
  const table =
    section.disruption.length > 0
      ? disruptionMarkdown(section.disruption)
      : 'Disruption not measured (the probes start with `--disruption check`).';
  const lines = [
    ...(steps ? [`Steps: ${steps}`] : []),
    ...section.proxyVersions.map((seen) => `Proxies (${seen.label}): ${describeProxies(seen)}`),
    ...section.analyze.map((entry) => `${describeAnalyze(entry)}: ${entry.output}`),
    ...(section.analyzeNotRun ? [`istioctl analyze: not run (${section.analyzeNotRun})`] : []),
  ];
  await appendFile(
    path.join(reportsDir, 'summary.md'),
    `\n## ${title}\n\n${table}\n\n${lines.map((line) => `${line}\n`).join('\n')}`,
  );
}

/** `istioctl analyze <ns>`, and whether it found issues at its failure threshold. */
export function describeAnalyze(result: AnalyzeResult): string {
  return result.foundIssues
    ? `istioctl analyze ${result.namespace} (found issues at --failure-threshold ${result.failureThreshold}, exit ${ISTIOCTL_EXIT.analyzerFoundIssues}; reported, not failed)`
    : `istioctl analyze ${result.namespace}`;
}

/** One line: which versions ran on each side, and what that means. */
export function describeProxies(seen: ProxyVersions): string {
  const side = (versions: string[]): string => versions.join(', ') || 'none seen';
  const verdict =
    seen.mixed === null
      ? 'unknown whether mixed: a side had no proxy to read'
      : seen.mixed
        ? 'old and new proxies mixed'
        : 'one version, not mixed';
  return `probe clients ${side(seen.clients)}, gateway ${side(seen.gateway)}: ${verdict}`;
}
