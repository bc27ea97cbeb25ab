import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { debugEnabled, openHandles } from './exit.ts';

const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));

// A module that leaves a timer and a listening server open, as a leaky library would.
const LEAK =
  "data:text/javascript,import net from 'node:net'; setInterval(() => {}, 60000); net.createServer().listen(0, '127.0.0.1');";

describe('the end of the process', () => {
  it('names open handles by type and count', () => {
    expect(openHandles(['TCPSocketWrap', 'Timeout', 'TCPSocketWrap'])).toBe(
      'TCPSocketWrap ×2, Timeout',
    );
    expect(openHandles([])).toBe('');
    expect(debugEnabled({ EGRESS_DEBUG: '1' })).toBe(true);
    expect(debugEnabled({ EGRESS_DEBUG: '0' })).toBe(false);
    expect(debugEnabled({})).toBe(false);
  });

  it('the leak holds a plain node process open (the control)', async () => {
    const result = await execa(process.execPath, ['--import', LEAK, '-e', ''], {
      reject: false,
      timeout: 3_000,
    });
    expect(result.timedOut).toBe(true);
  });

  it('the CLI exits at once despite open handles, and EGRESS_DEBUG=1 names them', async () => {
    const started = Date.now();
    const result = await execa(process.execPath, ['--import', LEAK, CLI, '--list'], {
      reject: false,
      timeout: 30_000,
      env: { ...process.env, EGRESS_DEBUG: '1' },
    });
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
    // The leaked interval is the Timeout; the standard streams are the PipeWraps.
    expect(String(result.stderr)).toMatch(/debug: exiting with 0; handles still open: .*Timeout/);

    const quiet = await execa(process.execPath, ['--import', LEAK, CLI, '--list'], {
      reject: false,
      timeout: 30_000,
      env: { ...process.env, EGRESS_DEBUG: '' },
    });
    expect(quiet.exitCode).toBe(0);
    expect(String(quiet.stderr)).not.toContain('debug:');
  });
});
