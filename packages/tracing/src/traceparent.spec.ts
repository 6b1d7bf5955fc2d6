import { describe, expect, it } from 'vitest';
import { parseTraceparent, parseTracestate } from './traceparent.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

describe('parseTraceparent', () => {
  it('keeps a valid version 00 header as it came', () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-01`)).toBe(`00-${TRACE}-${PARENT}-01`);
  });

  it('reads a later version as W3C Trace Context says, passing it on as version 00 with its sampled flag', () => {
    expect(parseTraceparent(`01-${TRACE}-${PARENT}-01`)).toBe(`00-${TRACE}-${PARENT}-01`);
    expect(parseTraceparent(`cc-${TRACE}-${PARENT}-03-what-comes-next`)).toBe(`00-${TRACE}-${PARENT}-01`);
    expect(parseTraceparent(`01-${TRACE}-${PARENT}-02`)).toBe(`00-${TRACE}-${PARENT}-00`);
  });

  it.each([
    ['version ff', `ff-${TRACE}-${PARENT}-01`],
    ['version 00 with more fields', `00-${TRACE}-${PARENT}-01-extra`],
    ['a later version with something other than a dash after the flags', `01-${TRACE}-${PARENT}-01x`],
    ['an all-zero trace id', `01-${'0'.repeat(32)}-${PARENT}-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['not a string', 42],
  ])('ignores %s', (_case, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });
});

describe('parseTracestate', () => {
  it('keeps valid members as they came, joined by commas: several headers are one list', () => {
    expect(parseTracestate('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7')).toBe('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7');
    expect(parseTracestate(' congo=t61rcWkgMzE ,\t, tenant@vendor=x ')).toBe('congo=t61rcWkgMzE,tenant@vendor=x');
    expect(parseTracestate(['congo=a', 'rojo=b'])).toBe('congo=a,rojo=b');
  });

  it.each([
    ['an empty list', ' , '],
    ['a member without a value', 'congo'],
    ['an upper-case key', 'Congo=a'],
    ['a value with a comma-free but forbidden character', 'congo=a=b'],
    ['a key twice', 'congo=a,congo=b'],
    ['33 members', Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')],
    ['over 512 characters', `congo=${'a'.repeat(507)}`],
    ['not a string', 7],
  ])('drops %s', (_case, value) => {
    expect(parseTracestate(value)).toBeUndefined();
  });
});
