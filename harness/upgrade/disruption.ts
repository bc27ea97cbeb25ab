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

/** The row of the long-lived TLS connection (connection-probe.ts) in the disruption table. */
export const CONNECTION_ROW = 'tls-connection';

/** How the long-lived connection broke and came back. */
export interface ConnectionFigures {
  /** Connections the probe opened: its first, and one after each break or announced close. */
  opened: number;
  /** Connections that ended without the server announcing it: the path closed them. */
  breaks: number;
  /** Breaks per step name (or {@link BETWEEN_STEPS}), by the request that found it broken. */
  breaksByStep: Record<string, number>;
  /** Connections the server ended with `Connection: close` (not the path's doing). */
  serverCloses: number;
  /**
   * Milliseconds from the last successful request on a broken connection to the first on the
   * next: the longest the client was without a working connection, to the probe's interval.
   */
  longestReconnectMs: number;
}

/** The disruption one path (or the long-lived connection) saw. */
export interface PathDisruption {
  path: ProbePath | typeof CONNECTION_ROW;
  sent: number;
  failed: number;
  byClass: Record<string, number>;
  /** Milliseconds from the first failure of the longest run of failures to the next success. */
  longestOutageMs: number;
  /** Failures per step name (or {@link BETWEEN_STEPS}). */
  byStep: Record<string, number>;
  /** The long-lived connection's row only. */
  connection?: ConnectionFigures;
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

/**
 * The table: one row per path that sent requests, and a row for the long-lived connection
 * when its probe ran. What counts as disruption is the same in every row: failed requests.
 */
export function disruptionTable(
  records: Iterable<ProbeRecord>,
  steps: readonly UpgradeStep[],
  paths: readonly ProbePath[],
): PathDisruption[] {
  const all = [...records].sort((a, b) => a.at.getTime() - b.at.getTime());
  const rows = paths.map((path) =>
    failures(
      path,
      all.filter((record) => record.path === path && record.connection === undefined),
      steps,
    ),
  );
  const connection = all.filter((record) => record.connection !== undefined);
  if (connection.length > 0) {
    rows.push({
      ...failures(CONNECTION_ROW, connection, steps),
      connection: connectionFigures(connection, steps),
    });
  }
  return rows;
}

/** Requests sent and failed, by class and step, and the longest outage, of time-ordered records. */
function failures(
  path: PathDisruption['path'],
  mine: readonly ProbeRecord[],
  steps: readonly UpgradeStep[],
): PathDisruption {
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
    row.longestOutageMs = Math.max(row.longestOutageMs, last.at.getTime() - outageStart.getTime());
  }
  return row;
}

/**
 * Breaks and reconnects of the long-lived connection, per probe process (a probe pod: a
 * restarted pod starts its own connection, which is no break). A successful request on
 * another connection than the last successful one means that one ended: announced by the
 * server (`Connection: close` on its last response) or broken.
 */
export function connectionFigures(
  records: readonly ProbeRecord[],
  steps: readonly UpgradeStep[],
): ConnectionFigures {
  const figures: ConnectionFigures = {
    opened: 0,
    breaks: 0,
    breaksByStep: {},
    serverCloses: 0,
    longestReconnectMs: 0,
  };
  const byPod = new Map<string, ProbeRecord[]>();
  for (const record of records) {
    const pod = record.id.slice(0, record.id.lastIndexOf('/'));
    byPod.set(pod, [...(byPod.get(pod) ?? []), record]);
  }
  const number = (record: ProbeRecord): number =>
    Number(record.id.slice(record.id.lastIndexOf('/') + 1));
  for (const mine of byPod.values()) {
    let last: ProbeRecord | undefined;
    let noticed: ProbeRecord | undefined;
    for (const record of [...mine].sort((a, b) => number(a) - number(b))) {
      const sample = record.connection;
      if (sample === undefined) continue;
      if (failureClass(record) !== undefined) {
        if (last && last.connection?.serverClose !== true) noticed ??= record;
        continue;
      }
      if (last === undefined) {
        figures.opened += 1;
      } else if (last.connection?.connId !== sample.connId) {
        figures.opened += 1;
        if (last.connection?.serverClose === true) {
          figures.serverCloses += 1;
        } else {
          figures.breaks += 1;
          const step = stepAt(steps, (noticed ?? record).at);
          figures.breaksByStep[step] = (figures.breaksByStep[step] ?? 0) + 1;
          figures.longestReconnectMs = Math.max(
            figures.longestReconnectMs,
            record.at.getTime() - last.at.getTime(),
          );
        }
      }
      last = record;
      noticed = undefined;
    }
  }
  return figures;
}

/** How the long-lived connection broke, for messages and the console. */
function describeConnection(figures: ConnectionFigures): string {
  const steps = Object.entries(figures.breaksByStep)
    .map(([step, count]) => `${count} during "${step}"`)
    .join(', ');
  const closes =
    figures.serverCloses > 0 ? `; ${figures.serverCloses} closed by the server (announced)` : '';
  return `${figures.breaks} break${figures.breaks === 1 ? '' : 's'}${steps ? ` (${steps})` : ''}, longest reconnect ${figures.longestReconnectMs} ms${closes}`;
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
      const connection = row.connection ? `; ${describeConnection(row.connection)}` : '';
      return `${row.path}: ${row.failed} of ${row.sent} requests failed${row.failed > 0 ? ` (${classes}; ${steps}; longest outage ${row.longestOutageMs} ms)` : ''}${connection}`;
    })
    .join('; ');
}

/** The disruption table as Markdown (summary.md). */
export function disruptionMarkdown(rows: readonly PathDisruption[]): string {
  const lines = [
    '| path | sent | failed | failures by class | longest outage | failures by step | connection breaks |',
    '| ---- | ---- | ------ | ----------------- | -------------- | ---------------- | ----------------- |',
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
    const breaks = row.connection ? describeConnection(row.connection) : '-';
    lines.push(
      `| ${row.path} | ${row.sent} | ${row.failed} | ${classes} | ${row.longestOutageMs} ms | ${steps} | ${breaks} |`,
    );
  }
  return lines.join('\n');
}
