// What the CLI says may be left when the API server stopped answering: only for a cluster
// that outlives the run, with the command that removes it by the run's label.
import { describe, expect, it } from 'vitest';
import { leftoversSentence } from './leftovers.ts';

describe('leftoversSentence', () => {
  it('names the run-labelled namespaces, the borrowed labels and the command on a cluster that stays', () => {
    const sentence = leftoversSentence({
      runId: 'abc123',
      cluster: 'existing',
      reuseCluster: false,
      keepCluster: false,
    });
    expect(sentence).toContain('namespaces labelled egress-conformance.io/run=abc123');
    expect(sentence).toContain('kubectl delete namespaces -l egress-conformance.io/run=abc123');
    expect(
      leftoversSentence({
        runId: 'abc123',
        cluster: 'kind',
        reuseCluster: true,
        keepCluster: false,
      }),
    ).toBe(sentence);
  });

  it('says nothing when the cluster goes with the run', () => {
    const base = { runId: 'abc123', reuseCluster: false, keepCluster: false };
    expect(leftoversSentence({ ...base, cluster: 'simulated' })).toBeUndefined();
    expect(leftoversSentence({ ...base, cluster: 'kind' })).toBeUndefined();
  });
});
