import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { RunPlace } from './leftovers.ts';
import { handleInterrupts, signalExitCode } from './signals.ts';

const PLACE: RunPlace = {
  runId: 'abc123',
  cluster: 'existing',
  clusterName: 'egress-conformance',
  reuseCluster: false,
  keepCluster: false,
  kubeconfig: '/k',
  context: undefined,
  probesOf: 'def456',
};

function harness() {
  const source = new EventEmitter();
  const said: string[] = [];
  const events: string[] = [];
  const interrupts = handleInterrupts({
    place: () => PLACE,
    complain: (line) => said.push(line),
    cancel: (signal) => events.push(`cancel ${signal}`),
    beforeExit: () => events.push('before exit'),
    exit: (code) => events.push(`exit ${code}`),
    source,
  });
  return { source, said, events, interrupts };
}

describe('SIGINT and SIGTERM during a run', () => {
  it('the first cancels the run and says a second stops at once', () => {
    const { source, said, events, interrupts } = harness();
    expect(interrupts.signal).toBeUndefined();
    source.emit('SIGTERM', 'SIGTERM');
    expect(interrupts.signal).toBe('SIGTERM');
    expect(events).toEqual(['cancel SIGTERM']);
    expect(said).toEqual([
      'interrupted by SIGTERM: cleaning up what this run created (a second signal stops at once)',
    ]);
  });

  it('a second names what may be left and the command, cleans what must not stay, exits', () => {
    const { source, said, events } = harness();
    source.emit('SIGTERM', 'SIGTERM');
    source.emit('SIGINT', 'SIGINT');
    expect(events).toEqual(['cancel SIGTERM', 'before exit', 'exit 130']);
    expect(said[1]).toMatch(/^SIGINT again: stopping without finishing cleanup\. What may be left/);
    expect(said[1]).toContain(
      "delete namespaces -l 'egress-conformance.io/run in (abc123,def456)'",
    );
  });

  it('stops listening once the run is done', () => {
    const { source, events, interrupts } = harness();
    interrupts.stop();
    source.emit('SIGINT', 'SIGINT');
    expect(events).toEqual([]);
    expect(source.listenerCount('SIGINT') + source.listenerCount('SIGTERM')).toBe(0);
  });

  it('exits 128 + the signal number', () => {
    expect(signalExitCode('SIGINT')).toBe(130);
    expect(signalExitCode('SIGTERM')).toBe(143);
  });
});
