/** Kubeconfigs for the Kubernetes adapter's tests: one cluster, one user, one current context. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The kubeconfig text; `cluster` and `user` are YAML flow mappings, e.g.
 * `{server: "https://127.0.0.1:9"}` and `{token: t}`.
 */
export function kubeconfigText(cluster: string, user: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{name: c, cluster: ${cluster}}]`,
    `users: [{name: u, user: ${user}}]`,
    'contexts: [{name: x, context: {cluster: c, user: u}}]',
    'current-context: x',
    '',
  ].join('\n');
}

/** The same, written to a fresh temporary folder; returns the file's path. */
export function writeKubeconfig(cluster: string, user: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'egc-kubeconfig-')), 'kubeconfig');
  writeFileSync(file, kubeconfigText(cluster, user));
  return file;
}
