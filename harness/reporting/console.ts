/**
 * What the terminal shows while the suites run: a line per finished case (✓ × ↓ and its
 * name), then every failure once, rendered from its fields (behaviour, expected, what was
 * observed, hint, the diagnostics folder). `--verbose` adds each failure's stack trace and
 * "Caused by" chain, which an on-call engineer otherwise has to read past.
 */
import path from 'node:path';
import type { FailureFields } from '../errors.ts';
import { diagnosticsFolder, type CaseResult } from './junit.ts';

/** Options of {@link ConsoleReporter}. */
export interface ConsoleReporterOptions {
  /** Writes one line (no trailing newline). */
  write: (line: string) => void;
  /** The reports folder, which diagnostics folders are relative to. */
  reportsDir: string;
  /** Stack traces and causes under each failure [off]. */
  verbose?: boolean;
  /** ANSI colours, for a terminal [off]. */
  colors?: boolean;
}

const MARKS = { passed: '✓', failed: '×', skipped: '↓' } as const;
const COLOURS = { passed: 32, failed: 31, skipped: 33, dim: 2 } as const;
const LABEL_WIDTH = 'Last observation: '.length;

/** The CLI's terminal output; the JUnit and other reports are written elsewhere. */
export class ConsoleReporter {
  private readonly write: (line: string) => void;
  private readonly reportsDir: string;
  private readonly verbose: boolean;
  private readonly colors: boolean;

  constructor({ write, reportsDir, verbose = false, colors = false }: ConsoleReporterOptions) {
    this.write = write;
    this.reportsDir = reportsDir;
    this.verbose = verbose;
    this.colors = colors;
  }

  /** A failed setup, stage or cleanup: its block, once. */
  onBlockFailed(entry: CaseResult): void {
    this.write(`${this.paint('failed', MARKS.failed)} ${entry.group}: setup or cleanup failed`);
  }

  /** A finished case. */
  onCase(entry: CaseResult): void {
    const flaky = entry.meta.flaky ? ' (flaky: passed after its observations flipped)' : '';
    const detail =
      entry.state === 'skipped'
        ? this.paint('dim', ` (skipped${entry.skipReason ? `: ${entry.skipReason}` : ''})`)
        : this.paint('dim', ` ${entry.durationMs} ms${flaky}`);
    // The variant's block (`passthrough [mtls disabled, istio-api]`), or the suite for B6.
    const scope = entry.group.split(' › ')[0] ?? entry.suite;
    this.write(`${this.paint(entry.state, MARKS[entry.state])} ${scope} › ${entry.name}${detail}`);
  }

  /** The end of the run: every failure once (cases and unhandled errors); nothing if none. */
  onRunEnd(cases: readonly CaseResult[]): void {
    const failures = cases.filter((entry) => entry.state === 'failed');
    if (failures.length === 0) return;
    this.write('');
    this.write(this.paint('failed', `Failures (${failures.length}):`));
    for (const entry of failures) {
      this.write('');
      for (const line of this.failureLines(entry)) this.write(line);
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
    if (this.verbose && entry.stack) lines.push(...field('Stack', entry.stack));
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
