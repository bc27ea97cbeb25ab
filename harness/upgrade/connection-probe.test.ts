import { describe, expect, it } from 'vitest';
import { parseAccessLogLine } from '../envoy/access-log.ts';
import {
  CONNECTION_CONTAINER,
  CONNECTION_MARKER,
  connectionContainer,
  parseConnectionLog,
} from './connection-probe.ts';
import {
  CONNECTION_ROW,
  disruptionMarkdown,
  disruptionTable,
  type UpgradeStep,
} from './disruption.ts';
import { judgeMixed } from './evidence.ts';
import type { ProbeRecord } from './probes.ts';
import { disruptionCases, upgradeSection } from './report.ts';

const at = (ms: number): Date => new Date(Date.UTC(2026, 10, 30, 12, 0, 0, 0) + ms);

/** One request over the long-lived connection: the n-th, every 100 ms. */
function exchange(
  n: number,
  connId: number,
  options: { ok?: boolean; pod?: string; serverClose?: boolean; connects?: number } = {},
): ProbeRecord {
  const ok = options.ok ?? true;
  return {
    path: 'tls',
    id: `${options.pod ?? 'egress-probe-abc'}/${n}`,
    at: at(n * 100),
    httpCode: ok ? 200 : 0,
    curlExit: ok ? 0 : 35,
    connection: {
      numConnects: options.connects ?? 0,
      connId: ok ? connId : -1,
      serverClose: options.serverClose ?? false,
    },
  };
}

const steps: UpgradeStep[] = [
  { name: 'istioctl 1.31.1 install', startedAt: at(0), endedAt: at(350) },
  { name: 'restart the gateway', startedAt: at(350), endedAt: at(900) },
];

const connectionRow = (records: ProbeRecord[]) =>
  disruptionTable(records, steps, ['tls']).find((row) => row.path === CONNECTION_ROW);

describe('the long-lived connection probe', () => {
  it('keeps one connection with curl and records, per request, whether it connected and on which connection', () => {
    const container = connectionContainer(
      'https://tls.example.test',
      200,
      'curlimages/curl:8.11.1',
    ) as {
      name: string;
      command: string[];
    };
    expect(container.name).toBe(CONNECTION_CONTAINER);
    expect(container.command).toEqual(
      expect.arrayContaining(['curl', '--http1.1', '--rate', '300/m']),
    );
    expect(container.command.join(' ')).toContain('%{num_connects} %{conn_id} %header{connection}');
    // One curl process over a URL glob: every request can reuse the connection.
    expect(container.command.at(-1)).toBe(
      'https://tls.example.test/connection/$(POD_NAME)/[1-100000000]',
    );
  });

  it('parses its log (kubelet timestamps), with or without a Connection header, and skips curl errors', () => {
    const url = 'https://tls.example.test/connection/egress-probe-abc';
    const log = [
      `2026-11-30T12:00:00.100Z ${CONNECTION_MARKER} ${url}/1 200 0 1 0`,
      `2026-11-30T12:00:00.200Z ${CONNECTION_MARKER} ${url}/2 200 0 0 0 close`,
      '2026-11-30T12:00:00.300Z curl: (35) Recv failure: Connection reset by peer',
      `2026-11-30T12:00:00.300Z ${CONNECTION_MARKER} ${url}/3 000 35 0 -1 `,
    ].join('\n');
    expect(parseConnectionLog(log)).toEqual([
      expect.objectContaining({
        id: 'egress-probe-abc/1',
        httpCode: 200,
        connection: { numConnects: 1, connId: 0, serverClose: false },
      }),
      expect.objectContaining({ connection: { numConnects: 0, connId: 0, serverClose: true } }),
      expect.objectContaining({
        id: 'egress-probe-abc/3',
        curlExit: 35,
        connection: { numConnects: 0, connId: -1, serverClose: false },
      }),
    ]);
  });
});

describe('how the long-lived connection counts', () => {
  it('reports breaks (gateway pods draining) and reconnect times, and counts no failure when each reconnect worked', () => {
    // A perfect rolling update, twice: the connection breaks as each pod it is on goes, and
    // the next request goes out on a new connection at once.
    const records = [
      exchange(1, 0, { connects: 1 }),
      exchange(2, 0),
      exchange(3, 0),
      exchange(4, 1, { connects: 1 }),
      exchange(5, 1),
      exchange(6, 2, { connects: 1 }),
    ];
    expect(connectionRow(records)).toEqual({
      path: CONNECTION_ROW,
      sent: 6,
      failed: 0,
      byClass: {},
      longestOutageMs: 0,
      byStep: {},
      connection: {
        opened: 3,
        breaks: 2,
        breaksByStep: { 'restart the gateway': 2 },
        serverCloses: 0,
        longestReconnectMs: 100,
      },
    });
  });

  it('counts the requests that failed while the connection could not be re-established', () => {
    // Every gateway pod replaced at once: the reconnect fails until a new pod is ready.
    const records = [
      exchange(1, 0, { connects: 1 }),
      exchange(2, 0),
      exchange(3, 0, { ok: false }),
      exchange(4, 0, { ok: false }),
      exchange(5, 1, { connects: 1 }),
    ];
    expect(connectionRow(records)).toMatchObject({
      sent: 5,
      failed: 2,
      byClass: { reset: 2 },
      byStep: { 'istioctl 1.31.1 install': 1, 'restart the gateway': 1 },
      longestOutageMs: 200,
      connection: {
        breaks: 1,
        breaksByStep: { 'istioctl 1.31.1 install': 1 },
        longestReconnectMs: 300,
      },
    });
  });

  it('does not call a close the server announced, or a new probe pod, a break', () => {
    const records = [
      exchange(1, 0, { connects: 1 }),
      exchange(2, 0, { serverClose: true }),
      exchange(3, 1, { connects: 1 }),
      // The workloads' restart: a new probe pod with its own first connection.
      exchange(4, 0, { connects: 1, pod: 'egress-probe-def' }),
    ];
    expect(connectionRow(records)?.connection).toEqual({
      opened: 3,
      breaks: 0,
      breaksByStep: {},
      serverCloses: 1,
      longestReconnectMs: 0,
    });
  });

  it('keeps the TLS path row to the request probe, and adds no connection row without its records', () => {
    const request: ProbeRecord = {
      ...exchange(1, 0),
      connection: undefined,
      id: 'egress-probe-abc/9',
    };
    const rows = disruptionTable([request, exchange(1, 0, { connects: 1 })], steps, ['tls']);
    expect(rows.map((row) => [row.path, row.sent])).toEqual([
      ['tls', 1],
      [CONNECTION_ROW, 1],
    ]);
    expect(disruptionTable([request], steps, ['tls']).map((row) => row.path)).toEqual(['tls']);
  });

  it('passes its case with breaks and fails it on failed requests beyond --max-disruption', () => {
    const upgrade = {
      mode: 'upgrade' as const,
      from: '1.30.5',
      to: '1.31.1',
      style: 'in-place' as const,
      probeIntervalMs: 100,
      maxDisruption: 0,
    };
    const broken = [exchange(1, 0, { connects: 1 }), exchange(2, 1, { connects: 1 })];
    const green = upgradeSection({ upgrade, steps, rows: disruptionTable(broken, steps, []) });
    expect(green.disruption[0]).toMatchObject({ result: 'passed', connection: { breaks: 1 } });
    const [greenCase] = disruptionCases(green, 0);
    expect(greenCase?.state).toBe('passed');
    expect(greenCase?.name).toContain('stays up for one long-lived TLS connection');
    expect(disruptionMarkdown(green.disruption)).toContain(
      `| ${CONNECTION_ROW} | 2 | 0 | - | 0 ms | - | 1 break (1 during "istioctl 1.31.1 install"), longest reconnect 100 ms |`,
    );

    const failing = [...broken, exchange(3, 1, { ok: false }), exchange(4, 2, { connects: 1 })];
    const red = upgradeSection({ upgrade, steps, rows: disruptionTable(failing, steps, []) });
    const [redCase] = disruptionCases(red, 0);
    expect(redCase?.state).toBe('failed');
    expect(redCase?.message).toMatch(
      /exceeds --max-disruption 0: tls-connection: 1 of 4 requests failed \(1 reset; 1 during "istioctl 1.31.1 install"; .*\); 2 breaks/,
    );
  });

  it('is not taken for the TLS request probe in the mixed-version check (negative control)', () => {
    const entry = parseAccessLogLine(
      '[2026-11-30T12:00:00.100Z] "- - -" 0 - - - "-" 600 4000 5 - "-" "-" "-" "-" "203.0.113.30:443" outbound|443||tls.example.test 10.244.0.20:40000 10.244.0.20:8443 10.244.1.9:50000 tls.example.test -',
    );
    if (!entry) throw new Error('unparsed gateway entry');
    const verdict = judgeMixed({
      path: 'tls',
      host: 'tls.example.test',
      records: [1, 2, 3].map((n) => exchange(n, 0)),
      entries: [entry, entry, entry],
      probeIps: ['10.244.1.9'],
      required: 3,
      label: 'mixed versions: old sidecars, new gateway',
    });
    expect(verdict.passed).toBe(false);
    expect(verdict.message).toContain('of 0 successful tls probe requests');
  });
});
