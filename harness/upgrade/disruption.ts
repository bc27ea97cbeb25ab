/**
 * From probe records and upgrade steps to the disruption table: per path the requests
 * sent, failures by class, the longest outage, and each failure attributed to the step
 * during which it happened.
 */
import type { ProbePath, ProbeRecord } from './probes.ts';

/** One upgrade step with its start and end. */
export interface UpgradeStep {
  name: string;
  startedAt: Date;
  endedAt?: Date;
}

/** Where no step was running. */
export const BETWEEN_STEPS = 'between steps';

/** Failure classes curl's exit code and the HTTP status tell apart. */
export function failureClass(record: ProbeRecord): string | undefined {
  if (record.curlExit === 0 && record.httpCode >= 200 && record.httpCode < 400) return undefined;
  switch (record.curlExit) {
    case 6:
      return 'dns';
    case 28:
      return 'timeout';
    case 7:
      return 'refused';
    case 35:
    case 52:
    case 56:
      return 'reset';
  }
  // With the client sidecar's flags where its access log had the request (`HTTP 503 UF,URX`).
  const flags =
    record.responseFlags && record.responseFlags !== '-' ? ` ${record.responseFlags}` : '';
  if (record.httpCode >= 400) return `HTTP ${record.httpCode}${flags}`;
  return `curl exit ${record.curlExit}`;
}

/** The disruption one path saw. */
export interface PathDisruption {
  path: ProbePath;
  sent: number;
  failed: number;
  byClass: Record<string, number>;
  /** Milliseconds from the first failure of the longest run of failures to the next success. */
  longestOutageMs: number;
  /** Failures per step name (or {@link BETWEEN_STEPS}). */
  byStep: Record<string, number>;
}

/** The step during which `at` fell. */
export function stepAt(steps: readonly UpgradeStep[], at: Date): string {
  const time = at.getTime();
  const step = steps.find(
    (candidate) =>
      candidate.startedAt.getTime() <= time && time <= (candidate.endedAt ?? new Date()).getTime(),
  );
  return step?.name ?? BETWEEN_STEPS;
}

/** The table: one row per path that sent requests. */
export function disruptionTable(
  records: Iterable<ProbeRecord>,
  steps: readonly UpgradeStep[],
  paths: readonly ProbePath[],
): PathDisruption[] {
  const all = [...records].sort((a, b) => a.at.getTime() - b.at.getTime());
  return paths.map((path) => {
    const mine = all.filter((record) => record.path === path);
    const row: PathDisruption = {
      path,
      sent: mine.length,
      failed: 0,
      byClass: {},
      longestOutageMs: 0,
      byStep: {},
    };
    let outageStart: Date | undefined;
    for (const record of mine) {
      const kind = failureClass(record);
      if (kind === undefined) {
        if (outageStart) {
          row.longestOutageMs = Math.max(
            row.longestOutageMs,
            record.at.getTime() - outageStart.getTime(),
          );
        }
        outageStart = undefined;
        continue;
      }
      row.failed += 1;
      row.byClass[kind] = (row.byClass[kind] ?? 0) + 1;
      const step = stepAt(steps, record.at);
      row.byStep[step] = (row.byStep[step] ?? 0) + 1;
      outageStart ??= record.at;
    }
    const last = mine.at(-1);
    if (outageStart && last) {
      row.longestOutageMs = Math.max(
        row.longestOutageMs,
        last.at.getTime() - outageStart.getTime(),
      );
    }
    return row;
  });
}

/** One line per path, for messages and the console. */
export function describeDisruption(rows: readonly PathDisruption[]): string {
  return rows
    .map((row) => {
      const classes = Object.entries(row.byClass)
        .map(([kind, count]) => `${count} ${kind}`)
        .join(', ');
      const steps = Object.entries(row.byStep)
        .map(([step, count]) => `${count} during "${step}"`)
        .join(', ');
      return `${row.path}: ${row.failed} of ${row.sent} requests failed${row.failed > 0 ? ` (${classes}; ${steps}; longest outage ${row.longestOutageMs} ms)` : ''}`;
    })
    .join('; ');
}

/** The disruption table as Markdown (summary.md). */
export function disruptionMarkdown(rows: readonly PathDisruption[]): string {
  const lines = [
    '| path | sent | failed | failures by class | longest outage | failures by step |',
    '| ---- | ---- | ------ | ----------------- | -------------- | ---------------- |',
  ];
  for (const row of rows) {
    const classes =
      Object.entries(row.byClass)
        .map(([kind, count]) => `${kind}: ${count}`)
        .join(', ') || '-';
    const steps =
      Object.entries(row.byStep)
        .map(([step, count]) => `${step}: ${count}`)
        .join(', ') || '-';
    lines.push(
      `| ${row.path} | ${row.sent} | ${row.failed} | ${classes} | ${row.longestOutageMs} ms | ${steps} |`,
    );
  }
  return lines.join('\n');
}
