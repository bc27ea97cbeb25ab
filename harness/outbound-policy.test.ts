import { describe, expect, it } from 'vitest';
import { parse } from './outbound-policy.ts';
import { parseCli, UsageError } from './cli.ts';

describe('--outbound-policy', () => {
  it('maps the flag to the mesh config value', () => {
    expect(parse({ 'outbound-policy': 'registry-only' }, 'kind', UsageError)).toBe('REGISTRY_ONLY');
    expect(parse({ 'outbound-policy': 'allow-any' }, 'simulated', UsageError)).toBe('ALLOW_ANY');
    expect(parse({}, 'existing', UsageError)).toBeUndefined();
  });

  it('names the valid values, and refuses an existing cluster', () => {
    expect(() => parse({ 'outbound-policy': 'deny' }, 'kind', UsageError)).toThrow(
      /valid values: allow-any, registry-only/,
    );
    expect(() => parse({ 'outbound-policy': 'registry-only' }, 'existing', UsageError)).toThrow(
      /never installs on an existing cluster/,
    );
  });

  it('reaches the parsed command line', () => {
    expect(parseCli(['--outbound-policy', 'registry-only']).outboundPolicy).toBe('REGISTRY_ONLY');
    expect(parseCli([]).outboundPolicy).toBeUndefined();
    expect(() => parseCli(['--cluster', 'existing', '--outbound-policy', 'allow-any'])).toThrow(
      UsageError,
    );
  });
});
