/**
 * What the terminal shows while the suites run: a line per finished test (✓ × ↓ and its
 * name), then every failure once, rendered from its fields (behaviour, expected, what was
 * observed, hint, the diagnostics folder). Vitest's own reporter, with its code frames,
 * stack traces and "Caused by" chains, is for `--verbose`.
 */
import path from 'node:path';
import type { UserConsoleLog } from 'vitest';
import type { Reporter, SerializedError, TestCase, TestModule, TestSuite } from 'vitest/node';
import type { FailureFields } from '../errors.ts';
import { collectCases, diagnosticsFolder, type CaseResult } from './junit.ts';

/** Options of {@link ConsoleReporter}. */
export interface ConsoleReporterOptions {
  /** Writes one line (no trailing newline). */
  write: (line: string) => void;
  /** The reports folder, which diagnostics folders are relative to. */
  reportsDir: string;
  /** A line per finished test; off when vitest's own reporter prints them (`--verbose`) [on]. */
  progress?: boolean;
  /** ANSI colours, for a terminal [off]. */
  colors?: boolean;
}

const MARKS = { passed: '✓', failed: '×', skipped: '↓' } as const;
const COLOURS = { passed: 32, failed: 31, skipped: 33, dim: 2 } as const;
const LABEL_WIDTH = 'Last observation: '.length;

/** The CLI's vitest reporter for the terminal; the JUnit and other reports are written elsewhere. */
export class ConsoleReporter implements Reporter {
  private readonly write: (line: string) => void;
  private readonly reportsDir: string;
  private readonly progress: boolean;
  private readonly colors: boolean;

  constructor({ write, reportsDir, progress = true, colors = false }: ConsoleReporterOptions) {
    this.write = write;
    this.reportsDir = reportsDir;
    this.progress = progress;
    this.colors = colors;
  }

  onTestCaseResult(test: TestCase): void {
    if (!this.progress) return;
    const result = test.result();
    const state = result.state === 'pending' ? 'skipped' : result.state;
    const duration = Math.round(test.diagnostic()?.duration ?? 0);
    const flaky = test.meta().egress?.flaky
      ? ' (flaky: passed after its observations flipped)'
      : '';
    const detail =
      state === 'skipped'
        ? this.paint(
            'dim',
            ` (skipped${result.state === 'skipped' && result.note ? `: ${result.note}` : ''})`,
          )
        : this.paint('dim', ` ${duration} ms${flaky}`);
    this.write(`${this.paint(state, MARKS[state])} ${scopeOf(test)} › ${test.name}${detail}`);
  }

  onTestSuiteResult(suite: TestSuite): void {
    if (!this.progress || suite.errors().length === 0) return;
    this.write(
      `${this.paint('failed', MARKS.failed)} ${suite.fullName.replace(/ > /g, ' › ')}: setup or cleanup failed`,
    );
  }

  onUserConsoleLog(log: UserConsoleLog): void {
    // The harness logs slow steps (namespace deletion) from the workers.
    if (!this.progress) return;
    for (const line of log.content.replace(/\n$/, '').split('\n')) this.write(line);
  }

  onTestRunEnd(
    modules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
  ): void {
    const failures = collectCases(modules).filter((entry) => entry.state === 'failed');
    const count = failures.length + unhandledErrors.length;
    if (count === 0) return;
    this.write('');
    this.write(this.paint('failed', `Failures (${count}):`));
    for (const entry of failures) {
      this.write('');
      for (const line of this.failureLines(entry)) this.write(line);
    }
    for (const error of unhandledErrors) {
      this.write('');
      this.write(`${this.paint('failed', MARKS.failed)} unhandled error`);
      for (const line of field(error.name ?? 'Error', error.message ?? JSON.stringify(error))) {
        this.write(line);
      }
    }
    this.write('');
  }

  /** One failure: where it happened, then its fields, or the error's message for other errors. */
  failureLines(entry: CaseResult): string[] {
    const lines = [`${this.paint('failed', MARKS.failed)} ${entry.group} › ${entry.name}`];
    if (entry.failure) {
      lines.push(...this.fieldLines(entry.failure));
    } else {
      lines.push(...field(entry.errorName ?? 'Error', entry.message ?? 'failed'));
      const folder = diagnosticsFolder(entry.meta.diagnostics);
      if (folder) lines.push(...field('Diagnostics', this.diagnosticsPath(folder)));
    }
    if (entry.meta.kept?.length) lines.push(...field('Kept', entry.meta.kept.join(', ')));
    return lines;
  }

  private fieldLines(failure: FailureFields): string[] {
    const budget =
      failure.required !== undefined && failure.budgetMs !== undefined
        ? ` in ${failure.required} consecutive observations within ${failure.budgetMs} ms`
        : '';
    return [
      ...field('Behaviour', failure.behaviour),
      ...field('Expected', `${failure.expected}${budget}`),
      ...field(
        'Observed',
        `after ${plural(failure.observations, 'observation')} (${failure.elapsedMs} ms) it did not hold: ${failure.reason}`,
      ),
      ...field('Last observation', failure.observed.replace(/^\n/, '')),
      ...field('Hint', failure.hint),
      ...(failure.diagnostics
        ? field('Diagnostics', this.diagnosticsPath(failure.diagnostics))
        : []),
    ];
  }

  private diagnosticsPath(folder: string): string {
    const absolute = path.join(this.reportsDir, folder);
    const relative = path.relative(process.cwd(), absolute);
    return `${relative.startsWith('..') ? absolute : relative}${path.sep}`;
  }

  private paint(colour: keyof typeof COLOURS, text: string): string {
    return this.colors ? `\x1b[${COLOURS[colour]}m${text}\x1b[0m` : text;
  }
}

/** `    Label:           value`, continuation lines aligned under the value. */
function field(label: string, value: string): string[] {
  const indent = ' '.repeat(4);
  const [first = '', ...rest] = value.split('\n');
  return [
    `${indent}${`${label}: `.padEnd(LABEL_WIDTH)}${first}`,
    ...rest.map((line) => `${indent}${' '.repeat(LABEL_WIDTH)}${line.trimStart()}`),
  ];
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** The variant's block (`passthrough [mtls disabled, istio-api]`), or the file for top-level tests. */
function scopeOf(test: TestCase): string {
  let scope: TestCase['parent'] = test.parent;
  if (scope.type === 'module') return path.basename(scope.moduleId).replace(/\.test\.ts$/, '');
  while (scope.parent.type === 'suite') scope = scope.parent;
  return scope.name;
}
