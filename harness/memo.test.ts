import { describe, expect, it } from 'vitest';
import { memoized } from './memo.ts';

describe('memoized', () => {
  it('computes each key once, and again only after it was dropped as the oldest past the limit', () => {
    const computed: string[] = [];
    const upper = memoized((key: string) => {
      computed.push(key);
      return key.toUpperCase();
    }, 2);
    expect([upper('a'), upper('b'), upper('a')]).toEqual(['A', 'B', 'A']);
    expect(computed).toEqual(['a', 'b']);
    upper('c'); // drops 'a', the oldest
    expect([upper('b'), upper('a')]).toEqual(['B', 'A']);
    expect(computed).toEqual(['a', 'b', 'c', 'a']);
  });

  it('keeps falsy answers too', () => {
    let calls = 0;
    const never = memoized((_key: string) => {
      calls += 1;
      return false;
    }, 4);
    never('x');
    never('x');
    expect(calls).toBe(1);
  });
});
