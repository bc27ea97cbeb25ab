// The first request is bounded: a kubeconfig whose exec credential plugin hangs must end
// in an environment error naming the plugin, not a run that never starts.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvironmentError } from '../errors.ts';
import { checkReachable, connect } from './client.ts';

describe('checkReachable', () => {
  it('names a hanging exec credential plugin within the bound', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egc-exec-plugin-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]',
        'users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: sleep, args: ["3"], interactiveMode: Never}}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
        '',
      ].join('\n'),
    );
    const started = Date.now();
    const error = await checkReachable(connect({ kubeconfigPath: kubeconfig }), {
      timeoutMs: 300,
    }).catch((caught: unknown) => caught);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(error).toBeInstanceOf(EnvironmentError);
    expect((error as Error).message).toMatch(
      /exec credential plugin \(sleep\) may be waiting for input or hanging/,
    );
  });
});
