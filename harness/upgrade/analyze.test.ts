// `istioctl analyze` after an upgrade, against fake istioctl scripts: exit 79 (analyzers found
// issues at the failure threshold) is a result kept in the report; any other non-zero exit is
// the run's environment error.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolFailedError } from '../binaries.ts';
import { EnvironmentError } from '../errors.ts';
import { ISTIOCTL_EXIT } from '../facts/istioctl.ts';
import type { Entry } from './entry.ts';
import { analyzeNamespace, analyzeNamespaces } from './measure.ts';
import { describeAnalyze, type AnalyzeResult } from './report.ts';
import type { StepContext } from './steps.ts';

const NAMESPACE = 'egc-a1b2c3-probe-http';
const FINDING =
  'Error [IST0101] (VirtualService egc-a1b2c3-probe-http/probe) Referenced gateway not found: "missing"';
const FOUND_ISSUES =
  'Error: Analyzers found issues when analyzing namespace: egc-a1b2c3-probe-http.\nSee https://istio.io/v1.31/docs/reference/config/analysis for more information about causes and resolutions.';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'egc-analyze-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A fake istioctl: records its arguments, prints `stdout` and `stderr`, exits `code`. */
async function fakeIstioctl({
  stdout,
  stderr,
  code,
}: {
  stdout: string;
  stderr: string;
  code: number;
}): Promise<{ context: StepContext; argv: () => Promise<string> }> {
  const dir = await mkdtemp(join(work, 'istioctl-'));
  const path = join(dir, 'istioctl');
  const args = join(dir, 'args');
  const quote = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`;
  await writeFile(
    path,
    `#!/bin/sh\necho "$@" > ${quote(args)}\nprintf '%s\\n' ${quote(stdout)}\nprintf '%s\\n' ${quote(stderr)} >&2\nexit ${code}\n`,
    { mode: 0o755 },
  );
  const context = {
    kube: undefined,
    kubeconfigPath: '/tmp/kubeconfig',
    istioctl: { path, env: { PATH: process.env.PATH ?? '' } },
    timeoutMs: 10_000,
    steps: [],
    log: () => {},
  } as unknown as StepContext;
  return { context, argv: async () => (await readFile(args, 'utf8')).trim() };
}

function entryStub(): { entry: Entry; said: string[] } {
  const said: string[] = [];
  const entry = {
    notes: { precheckWarnings: [], analyze: [], proxyVersions: [] },
    run: { say: (line: string) => void said.push(line) },
  } as unknown as Entry;
  return { entry, said };
}

describe('istioctl analyze after an upgrade', () => {
  it('asks for --failure-threshold Error and keeps the verdict istioctl prints on stderr (exit 0)', async () => {
    const { context, argv } = await fakeIstioctl({
      stdout: '',
      stderr: `✔ No validation issues found when analyzing namespace: ${NAMESPACE}.`,
      code: 0,
    });
    const result = await analyzeNamespace(context, NAMESPACE);
    expect(await argv()).toBe(
      `analyze -n ${NAMESPACE} --failure-threshold Error --kubeconfig /tmp/kubeconfig`,
    );
    expect(result).toEqual({
      namespace: NAMESPACE,
      output: `✔ No validation issues found when analyzing namespace: ${NAMESPACE}.`,
      foundIssues: false,
      failureThreshold: 'Error',
    });
  });

  it('reports exit 79 as issues found at the failure threshold, with the messages, and does not throw', async () => {
    const { context } = await fakeIstioctl({
      stdout: FINDING,
      stderr: FOUND_ISSUES,
      code: ISTIOCTL_EXIT.analyzerFoundIssues,
    });
    const { entry, said } = entryStub();
    await analyzeNamespaces(entry, context, [NAMESPACE]);
    const expected: AnalyzeResult = {
      namespace: NAMESPACE,
      output: `${FINDING}\n${FOUND_ISSUES}`,
      foundIssues: true,
      failureThreshold: 'Error',
    };
    expect(entry.notes.analyze).toEqual([expected]);
    expect(said).toEqual([
      `istioctl analyze ${NAMESPACE} (found issues at --failure-threshold Error, exit 79; reported, not failed): ${FINDING}\n${FOUND_ISSUES}`,
    ]);
    expect(describeAnalyze({ ...expected, foundIssues: false })).toBe(
      `istioctl analyze ${NAMESPACE}`,
    );
  });

  it.each([
    [ISTIOCTL_EXIT.unknownError, 'Error: failed to connect to the cluster'],
    [ISTIOCTL_EXIT.incorrectUsage, 'Error: unknown flag: --bogus'],
  ])(
    'throws a tool failure (exit 2 for the run) for any other non-zero exit: %i',
    async (code, stderr) => {
      const { context } = await fakeIstioctl({ stdout: '', stderr, code });
      const { entry } = entryStub();
      const failed = analyzeNamespaces(entry, context, [NAMESPACE]);
      await expect(failed).rejects.toBeInstanceOf(ToolFailedError);
      await expect(failed).rejects.toBeInstanceOf(EnvironmentError);
      await expect(failed).rejects.toThrow(
        new RegExp(`istioctl analyze failed: .* exited ${code} after`),
      );
      expect(entry.notes.analyze).toEqual([]);
    },
  );
});
