// The stand-in istioctl's command lines, without a cluster: the flags each command takes,
// strictly, and the refusal to prompt that real istioctl would answer interactively.
import { describe, expect, it } from 'vitest';
import { istioctlMain } from './istioctl.ts';

async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let out = '';
  let err = '';
  const code = await istioctlMain(argv, env, {
    out: (text) => void (out += text),
    err: (text) => void (err += text),
  });
  return { code, out, err };
}

describe('the stand-in istioctl', () => {
  it('reports its client version without touching a cluster', async () => {
    const result = await run(['version', '--remote=false'], {
      EGRESS_SIM_ISTIOCTL_VERSION: '1.30.5',
    });
    expect(result).toEqual({ code: 0, out: 'client version: 1.30.5\n', err: '' });
  });

  it.each([[['install', '-f', '/nonexistent.yaml']], [['uninstall', '--revision', 'default']]])(
    'refuses %j without -y: it cannot answer "Proceed? (y/N)"',
    async (argv) => {
      const result = await run(argv);
      expect(result.code).toBe(1);
      expect(result.err).toBe('Error: the stand-in istioctl cannot prompt; pass -y\n');
    },
  );

  it('rejects a flag the command does not take, and positionals', async () => {
    const unknown = await run(['analyze', '--revision', 'b']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/^Error: Unknown option '--revision'/);
    const positional = await run(['x', 'precheck', 'extra']);
    expect(positional.code).toBe(1);
    expect(positional.err).toMatch(/^Error: .*positional/i);
  });
});
