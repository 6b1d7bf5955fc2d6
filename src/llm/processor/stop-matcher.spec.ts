import { describe, expect, it } from 'vitest';
import { StopMatcher } from './stop-matcher.js';

function feed(stops: string[], pieces: string[]) {
  const matcher = new StopMatcher(stops);
  let out = '';
  for (const piece of pieces) {
    const { text, stopped } = matcher.push(piece);
    out += text;
    if (stopped) return { out, stopped: true };
  }
  return { out: out + matcher.flush(), stopped: false };
}

describe('StopMatcher', () => {
  it('passes text through when there are no stop sequences', () => {
    expect(feed([], ['a', 'b'])).toEqual({ out: 'ab', stopped: false });
  });

  it('stops before a sequence split across pieces, sending none of it', () => {
    expect(feed(['END'], ['one E', 'N', 'D two'])).toEqual({ out: 'one ', stopped: true });
  });

  it('stops at the earliest of several sequences', () => {
    expect(feed(['zz', 'b'], ['a b zz'])).toEqual({ out: 'a ', stopped: true });
  });

  it('releases held-back text that turned out not to be a stop sequence', () => {
    expect(feed(['END'], ['EN', 'x', 'E'])).toEqual({ out: 'ENxE', stopped: false });
  });
});
