/** Helpers for the end-to-end tests: run the CLI, read its JUnit file back. */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

/** The CLI entry point. */
export const CLI = fileURLToPath(new URL('../../harness/cli.ts', import.meta.url));

/** A test case as read back from the JUnit file. */
export interface JUnitCase {
  suite: string;
  name: string;
  failure?: string;
  skipped?: string;
  properties: Record<string, string>;
  systemOut?: string;
}

function unescapeXml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');
}

/** Reads our JUnit file back (only the shapes our writer produces). */
export function parseJUnit(xml: string): JUnitCase[] {
  const cases: JUnitCase[] = [];
  for (const suiteMatch of xml.matchAll(/<testsuite name="([^"]*)"[\s\S]*?<\/testsuite>/g)) {
    const suite = unescapeXml(suiteMatch[1] ?? '');
    for (const caseMatch of suiteMatch[0].matchAll(
      /<testcase [^>]*name="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g,
    )) {
      const body = caseMatch[2] ?? '';
      const properties: Record<string, string> = {};
      for (const property of body.matchAll(/<property name="([^"]*)" value="([^"]*)"\/>/g)) {
        properties[unescapeXml(property[1] ?? '')] = unescapeXml(property[2] ?? '');
      }
      const failure = /<failure [^>]*>([\s\S]*?)<\/failure>/.exec(body)?.[1];
      const skipped = /<skipped message="([^"]*)"/.exec(body)?.[1];
      const systemOut = /<system-out>([\s\S]*?)<\/system-out>/.exec(body)?.[1];
      cases.push({
        suite,
        name: unescapeXml(caseMatch[1] ?? ''),
        properties,
        ...(failure !== undefined ? { failure: unescapeXml(failure) } : {}),
        ...(skipped !== undefined ? { skipped: unescapeXml(skipped) } : {}),
        ...(systemOut !== undefined ? { systemOut: unescapeXml(systemOut) } : {}),
      });
    }
  }
  return cases;
}

/** Runs the CLI against the simulated cluster in a fresh reports folder. */
export async function runSimulated(
  args: string[],
  env: Record<string, string> = {},
): Promise<{
  exitCode: number;
  stdout: string;
  stderr: string;
  reports: string;
  xml: string;
  cases: JUnitCase[];
}> {
  const reports = await mkdtemp(path.join(tmpdir(), 'egc-reports-'));
  const result = await execa(
    process.execPath,
    [
      CLI,
      '--cluster',
      'simulated',
      '--reports',
      reports,
      '--junit',
      path.join(reports, 'junit.xml'),
      ...args,
    ],
    { reject: false, env: { ...process.env, ...env }, cwd: reports, timeout: 240_000 },
  );
  const xml = await readFile(path.join(reports, 'junit.xml'), 'utf8').catch(() => '');
  return {
    exitCode: result.exitCode ?? -1,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
    reports,
    xml,
    cases: parseJUnit(xml),
  };
}
