import { describe, expect, it } from 'vitest';
import { HTTP_CONNECT_FAILURE_FLAGS, renderResponseFlags } from './envoy.ts';

describe("Envoy's %RESPONSE_FLAGS%", () => {
  it('keeps the order the filters set the flags in, not the flag table order (UF comes first there)', () => {
    expect(renderResponseFlags(['URX', 'UF'])).toBe('URX,UF');
    expect(renderResponseFlags(['UT', 'DI', 'FI'])).toBe('UT,DI,FI');
  });

  it('writes a flag set twice once, at its first place, and "-" for none', () => {
    expect(renderResponseFlags(['UF', 'URX', 'UF'])).toBe('UF,URX');
    expect(renderResponseFlags([])).toBe('-');
  });

  it("writes the router's failed connection after exhausted retries as URX,UF", () => {
    expect(renderResponseFlags(HTTP_CONNECT_FAILURE_FLAGS)).toBe('URX,UF');
  });
});
