import { describe, expect, it } from 'vitest';
import { injectionLabels, namespaceSelectsRevision } from './injection.ts';

describe('injection labels per revision', () => {
  it('labels istio-injection=enabled for the default revision', () => {
    expect(injectionLabels(undefined)).toEqual({ 'istio-injection': 'enabled' });
    expect(injectionLabels('default')).toEqual({ 'istio-injection': 'enabled' });
  });

  it('labels istio.io/rev=REV for a revision, which its webhook selects without a default tag', () => {
    const labels = injectionLabels('canary');
    expect(labels).toEqual({ 'istio.io/rev': 'canary' });
    expect(namespaceSelectsRevision(labels, 'canary', { hasDefaultTag: false })).toBe(true);
  });

  it('a revision without a default tag does not inject namespaces labelled istio-injection=enabled', () => {
    const labels = { 'istio-injection': 'enabled' };
    expect(namespaceSelectsRevision(labels, 'canary', { hasDefaultTag: false })).toBe(false);
    expect(namespaceSelectsRevision(labels, 'default', { hasDefaultTag: true })).toBe(true);
  });

  it('istio-injection wins over istio.io/rev, and disabled means none', () => {
    const both = { 'istio-injection': 'enabled', 'istio.io/rev': 'canary' };
    expect(namespaceSelectsRevision(both, 'canary', { hasDefaultTag: false })).toBe(false);
    const off = { 'istio-injection': 'disabled', 'istio.io/rev': 'canary' };
    expect(namespaceSelectsRevision(off, 'canary', { hasDefaultTag: false })).toBe(false);
  });
});
