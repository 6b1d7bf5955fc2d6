import { describe, expect, it } from 'vitest';
import { checkIncomingRequestId } from './request-id.policy.js';

describe('checkIncomingRequestId', () => {
  it.each(['a', 'test-universal-123', 'A.b_c:d/e+f=g@h-0', 'x'.repeat(128)])('accepts %s byte for byte', (id) => {
    expect(checkIncomingRequestId(id, 128)).toEqual({ accepted: true, id });
  });

  it.each([
    [undefined, 'absent'],
    ['', 'absent'],
    ['x'.repeat(129), 'too-long'],
    ['a, b', 'multiple-values'],
    [['a', 'b'], 'multiple-values'],
    ['has space', 'invalid-characters'],
    ['quote"d', 'invalid-characters'],
    ['cr\r\nlf', 'invalid-characters'],
    ['!!!', 'invalid-characters'],
    ['caf\u00e9', 'invalid-characters'],
    ['zero\u200bwidth', 'invalid-characters'],
  ])('rejects %j as %s', (value, reason) => {
    expect(checkIncomingRequestId(value, 128)).toMatchObject({ accepted: false, reason });
  });
});
