// What the CLI says may be left when it cannot finish cleanup (a second signal, an API
// server that stopped answering), with the command that removes it by the run's label.
import { describe, expect, it } from 'vitest';
import {
  environmentErrorLines,
  leftoversMessage,
  leftoversSentence,
  type RunPlace,
} from './leftovers.ts';

const EXISTING: RunPlace = {
  runId: 'abc123',
  cluster: 'existing',
  clusterName: 'egress-conformance',
  reuseCluster: false,
  keepCluster: false,
  kubeconfig: '/home/me/.kube/config',
  context: 'prod',
};

describe('leftoversSentence (API server down)', () => {
  it('names the run-labelled namespaces, the borrowed labels and the command on a cluster that stays', () => {
    const sentence = leftoversSentence(EXISTING);
    expect(sentence).toContain('namespaces labelled egress-conformance.io/run=abc123');
    expect(sentence).toContain(
      'kubectl --kubeconfig /home/me/.kube/config --context prod delete namespaces -l egress-conformance.io/run=abc123',
    );
    const reused = leftoversSentence({ ...EXISTING, cluster: 'kind', reuseCluster: true });
    expect(reused).toContain(
      'kubectl --context kind-egress-conformance delete namespaces -l egress-conformance.io/run=abc123',
    );
  });

  it('says nothing when the cluster goes with the run', () => {
    expect(leftoversSentence({ ...EXISTING, cluster: 'simulated' })).toBeUndefined();
    expect(leftoversSentence({ ...EXISTING, cluster: 'kind' })).toBeUndefined();
  });
});

describe('leftoversMessage (second signal)', () => {
  it('on a kind cluster the run created: the cluster and the command that deletes it', () => {
    expect(leftoversMessage('SIGTERM', { ...EXISTING, cluster: 'kind' })).toBe(
      'SIGTERM again: stopping without finishing cleanup. What may be left: the kind cluster egress-conformance, created by this run, with everything in it. Remove it with: kind delete cluster --name egress-conformance',
    );
  });

  it('on an existing cluster: the namespaces by the run label, and the borrowed labels', () => {
    const message = leftoversMessage('SIGINT', EXISTING);
    expect(message).toMatch(/^SIGINT again: stopping without finishing cleanup\./);
    expect(message).toContain('annotated egress-conformance.io/labels-borrowed-by=abc123');
    expect(message).toContain(
      'kubectl --kubeconfig /home/me/.kube/config --context prod delete namespaces -l egress-conformance.io/run=abc123',
    );
  });

  it('on the simulated cluster: nothing is left', () => {
    expect(leftoversMessage('SIGINT', { ...EXISTING, cluster: 'simulated' })).toContain(
      'Nothing is left',
    );
  });
});

describe('a --disruption check run, which takes over the probes of another run', () => {
  const check: RunPlace = { ...EXISTING, probesOf: 'def456' };

  it("names the probes' namespaces too, and one command that removes both runs' namespaces", () => {
    for (const text of [leftoversMessage('SIGINT', check), leftoversSentence(check) ?? '']) {
      expect(text).toContain(
        "the disruption probes' namespaces labelled egress-conformance.io/run=def456",
      );
      expect(text).toContain(
        "kubectl --kubeconfig /home/me/.kube/config --context prod delete namespaces -l 'egress-conformance.io/run in (abc123,def456)'",
      );
    }
  });

  it('stays with the one run when it is its own (or no) probe run', () => {
    expect(leftoversMessage('SIGINT', { ...EXISTING, probesOf: 'abc123' })).toBe(
      leftoversMessage('SIGINT', EXISTING),
    );
  });
});

describe('environmentErrorLines (the environment errors a run reports)', () => {
  const down =
    'The Kubernetes API server at https://127.0.0.1:6443 stopped answering for 60000 ms (during "suites"); check that the cluster is up.';

  it('says each sentence once, first lines only', () => {
    expect(environmentErrorLines(['a\ndetail', 'a\nother', 'b'], EXISTING)).toEqual({
      lines: ['a', 'b'],
      apiDown: false,
    });
  });

  it('when the API server stopped answering: that sentence once, then what may be left', () => {
    const said = environmentErrorLines([`Failed to fetch: ${down}`, down, 'c'], EXISTING);
    expect(said.apiDown).toBe(true);
    expect(said.lines).toEqual([down, leftoversSentence(EXISTING)]);
    expect(environmentErrorLines([down], { ...EXISTING, cluster: 'simulated' }).lines).toEqual([
      down,
    ]);
  });
});
