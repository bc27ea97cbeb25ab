// A cancel reaches the run whichever way it is sent: SIGTERM to the pipeline's step shell
// (ci/run-cli.sh, what the ci/ templates run), to the CLI itself (bin/egress-conformance,
// a container's PID 1), or SIGINT to the whole process group (Ctrl-C). Each time the run
// cleans up and exits 143 (SIGTERM) or 130 (SIGINT), and no process of it is left.
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withCliSlot } from './cli.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Interrupted {
  code: number | null;
  output: string;
  pid: number;
}

/** Starts `command`, sends `signal` once the run has its cluster, and waits for the exit. */
async function interrupt(
  command: string[],
  signal: NodeJS.Signals,
  { group = false }: { group?: boolean } = {},
): Promise<Interrupted> {
  const reports = await mkdtemp(path.join(tmpdir(), 'egc-signals-'));
  return withCliSlot(async () => {
    const child = spawn(
      command[0] ?? '',
      [...command.slice(1), '--cluster', 'simulated', '--reports', reports],
      {
        cwd: reports,
        detached: true,
        env: { ...process.env, EGRESS_SIM_POD_START_MS: '300' },
      },
    );
    let output = '';
    let sent = false;
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (!sent && /\] cluster: done/.test(output)) {
        sent = true;
        process.kill(group ? -(child.pid ?? 0) : (child.pid ?? 0), signal);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    return { code, output, pid: child.pid ?? 0 };
  });
}

/** Whether any process of the group is still alive. */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

// Each case waits for a free CLI slot (see cli.ts) before its run starts.
describe('cancelling a run', { timeout: 900_000 }, () => {
  it('SIGTERM to the pipeline step (ci/run-cli.sh) reaches the run: cleanup, then 143', async () => {
    const run = await interrupt(['bash', path.join(ROOT, 'ci/run-cli.sh')], 'SIGTERM');
    expect(run.output).toContain('interrupted by SIGTERM: cleaning up');
    expect(run.code, run.output).toBe(143);
    expect(groupAlive(run.pid)).toBe(false);
  });

  it('SIGTERM to the CLI itself (bin/egress-conformance, a container PID 1): 143', async () => {
    const run = await interrupt([path.join(ROOT, 'bin/egress-conformance')], 'SIGTERM');
    expect(run.output).toContain('interrupted by SIGTERM: cleaning up');
    expect(run.code, run.output).toBe(143);
    expect(groupAlive(run.pid)).toBe(false);
  });

  it('SIGINT to the whole process group (Ctrl-C): 130', async () => {
    const run = await interrupt([path.join(ROOT, 'bin/egress-conformance')], 'SIGINT', {
      group: true,
    });
    expect(run.output).toContain('interrupted by SIGINT: cleaning up');
    expect(run.code, run.output).toBe(130);
    expect(groupAlive(run.pid)).toBe(false);
  });
});
