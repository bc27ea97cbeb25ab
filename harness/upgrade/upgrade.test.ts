import { describe, expect, it } from 'vitest';
import { parseAccessLogLine, type AccessLogEntry } from '../envoy/access-log.ts';
import { disruptionTable, failureClass, type UpgradeStep } from './disruption.ts';
import { judgeMixed } from './evidence.ts';
import { parseUpgradeOptions } from './options.ts';
import { describeProxies, upgradeSection } from './report.ts';
import { OLD_PROXY_THROUGH_NEW_GATEWAY_FAILURE } from '../facts/upgrade.ts';
import type { ProbeRecord } from './probes.ts';

const HOST = 'probe.example.test';
const at = (ms: number): Date => new Date(Date.UTC(2026, 10, 30, 12, 0, 0, ms));

function record(n: number, ok: boolean, path: ProbeRecord['path'] = 'http'): ProbeRecord {
  return {
    path,
    id: `egress-probe-abc/${n}`,
    at: at(n * 100),
    httpCode: ok ? 200 : 503,
    curlExit: 0,
  };
}

function gatewayEntry(n: number, cluster = `outbound|80||${HOST}`): AccessLogEntry {
  const line = `[2026-11-30T12:00:00.${String(n * 100).padStart(3, '0')}Z] "GET /probe/egress-probe-abc/${n} HTTP/1.1" 200 - via_upstream - "-" 0 10 1 1 "-" "curl/8.11.1" "id" "${HOST}" "93.184.216.34:80" ${cluster} 10.244.0.9:40000 10.244.0.9:8080 10.244.0.20:50000 - -`;
  const entry = parseAccessLogLine(line);
  if (!entry) throw new Error(`unparsed: ${line}`);
  return entry;
}

describe('the mixed-version check (B1 with gateway evidence for the probe requests)', () => {
  const records = [1, 2, 3, 4].map((n) => record(n, true));
  const judge = (entries: AccessLogEntry[]) =>
    judgeMixed({
      path: 'http',
      host: HOST,
      records,
      entries,
      probeIps: ['10.244.0.20'],
      required: 3,
      label: 'mixed versions: old sidecars, new gateway',
    });

  it('holds when the gateway logged the probe requests by their own paths to the host cluster', () => {
    expect(judge([1, 2, 3].map((n) => gatewayEntry(n))).passed).toBe(true);
  });

  it('fails when the probes succeed but the gateway did not see them (negative control)', () => {
    const verdict = judge([]);
    expect(verdict.passed).toBe(false);
    expect(verdict.message).toContain('0 of 4 successful http probe requests');
  });

  it('fails when the gateway sent them to another cluster', () => {
    expect(judge([1, 2, 3].map((n) => gatewayEntry(n, `outbound|443||${HOST}`))).passed).toBe(
      false,
    );
  });
});

describe('the disruption table', () => {
  const steps: UpgradeStep[] = [
    { name: 'restart the gateway', startedAt: at(150), endedAt: at(450) },
  ];

  it('counts failures by class (with the sidecar flags) and by step, and the longest outage', () => {
    const { responseFlags } = OLD_PROXY_THROUGH_NEW_GATEWAY_FAILURE;
    const records = [
      record(1, true),
      { ...record(2, false), responseFlags },
      record(3, false),
      record(4, true),
      record(5, false),
      record(6, true),
    ];
    expect(failureClass(records[1]!)).toBe(`HTTP 503 ${responseFlags}`);
    const [row] = disruptionTable(records, steps, ['http']);
    expect(row).toMatchObject({
      path: 'http',
      sent: 6,
      failed: 3,
      byClass: { [`HTTP 503 ${responseFlags}`]: 1, 'HTTP 503': 2 },
      byStep: { 'restart the gateway': 2, 'between steps': 1 },
      longestOutageMs: 200,
    });
  });

  it('tells curl failures apart: reset, timeout, refused, DNS', () => {
    const curl = (curlExit: number): ProbeRecord => ({
      ...record(1, false),
      httpCode: 0,
      curlExit,
    });
    expect([35, 56, 28, 7, 6].map((code) => failureClass(curl(code)))).toEqual([
      'reset',
      'reset',
      'timeout',
      'refused',
      'dns',
    ]);
  });
});

describe('the upgrade flags', () => {
  const parse = (values: Record<string, unknown>) => parseUpgradeOptions(values, '1.31.1');

  it('reads the two-phase mode: start, and check with the id start printed', () => {
    expect(parse({ disruption: 'start' })).toMatchObject({ mode: 'start' });
    expect(parse({ disruption: 'check', id: 'a1b2c3' })).toMatchObject({
      mode: 'check',
      id: 'a1b2c3',
    });
  });

  it('refuses contradictory or incomplete combinations, naming the fix', () => {
    expect(() => parse({ disruption: 'check' })).toThrow(/needs --id/);
    expect(() => parse({ disruption: 'start', 'upgrade-from': '1.30.5' })).toThrow(
      /exclude each other/,
    );
    expect(() => parse({ disruption: 'later' })).toThrow(/valid values: start, check/);
    expect(() => parse({ id: 'a1b2c3' })).toThrow(/needs --upgrade-from or --disruption/);
    expect(() => parse({ disruption: 'start', 'upgrade-style': 'canary' })).toThrow(
      /belongs to --upgrade-from/,
    );
  });
});

describe('what the upgrade section says beside the table', () => {
  const seen = (clients: string[], gateway: string[], mixed: boolean | null) => ({
    label: 'at the check',
    at: '2026-11-30T12:00:00.000Z',
    clients,
    gateway,
    mixed,
  });

  it('names the proxy versions of both sides and whether old and new were mixed', () => {
    expect(describeProxies(seen(['1.30.5'], ['1.31.1'], true))).toBe(
      'probe clients 1.30.5, gateway 1.31.1: old and new proxies mixed',
    );
    expect(describeProxies(seen(['1.31.1'], ['1.31.1'], false))).toBe(
      'probe clients 1.31.1, gateway 1.31.1: one version, not mixed',
    );
    expect(describeProxies(seen([], ['1.31.1'], null))).toBe(
      'probe clients none seen, gateway 1.31.1: unknown whether mixed: a side had no proxy to read',
    );
  });

  it('carries why istioctl analyze did not run, and leaves the field out when it ran', () => {
    const upgrade = parseUpgradeOptions({ disruption: 'check', id: 'a1b2c3' }, '1.31.1')!;
    const notRun = upgradeSection({ upgrade, steps: [], rows: [], analyzeNotRun: 'no istioctl' });
    expect(notRun).toMatchObject({ analyze: [], analyzeNotRun: 'no istioctl', proxyVersions: [] });
    const ran = upgradeSection({
      upgrade,
      steps: [],
      rows: [],
      analyze: [
        {
          namespace: 'egc-a1b2c3-probe-http',
          output: '✔ No validation issues',
          foundIssues: false,
          failureThreshold: 'Error',
        },
      ],
    });
    expect(ran).not.toHaveProperty('analyzeNotRun');
  });
});
