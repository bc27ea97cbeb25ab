/**
 * What a failed test leaves behind for the person reading the report the next
 * morning, after the cluster is gone. (First slice: the gateway's log for the window.)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SuiteEnvironment } from './suite.ts';

/** Collects diagnostics for a failed test; returns paths relative to the reports folder. */
export async function collectDiagnostics(
  env: SuiteEnvironment,
  testName: string,
): Promise<string[]> {
  const folder = path.join('diagnostics', env.suite, slug(`${env.variant}-${testName}`));
  const absolute = path.join(env.run.reportsDir, folder);
  await mkdir(absolute, { recursive: true });
  const files: string[] = [];
  const since = new Date(Date.now() - 10 * 60_000);
  const log = await env.gatewayLog(since);
  const gatewayFile = path.join(folder, 'gateway-access-log.txt');
  await writeFile(
    path.join(env.run.reportsDir, gatewayFile),
    log.entries.map((entry) => entry.raw).join('\n') + '\n',
  );
  files.push(gatewayFile);
  const appliedFile = path.join(folder, 'applied-objects.json');
  await writeFile(path.join(env.run.reportsDir, appliedFile), JSON.stringify(env.applied, null, 2));
  files.push(appliedFile);
  return files;
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 80);
}
