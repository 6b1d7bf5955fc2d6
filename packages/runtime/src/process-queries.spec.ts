import { describe, expect, it } from 'vitest';
import { ProcessQueries } from './process-queries.js';
import { InProcessTransport } from './transport/in-process.transport.js';

describe('ProcessQueries in one process', () => {
  it('ask() gets the local answer, and none once the handler is removed', async () => {
    const queries = new ProcessQueries(new InProcessTransport());
    const stop = queries.answer<{ n: number }, number>('math.double', ({ n }) => n * 2);
    expect(await queries.ask('math.double', { n: 21 })).toEqual([42]);
    stop();
    expect(await queries.ask('math.double', { n: 21 })).toEqual([]);
  });

  it('a failing or silent handler gives no answer', async () => {
    const queries = new ProcessQueries(new InProcessTransport());
    queries.answer('fails', () => {
      throw new Error('no');
    });
    queries.answer('silent', () => undefined);
    expect(await queries.ask('fails', {})).toEqual([]);
    expect(await queries.ask('silent', {})).toEqual([]);
  });

  it('takes one handler per topic, and topics that fit in a subject', () => {
    const queries = new ProcessQueries(new InProcessTransport());
    queries.answer('one', () => 1);
    expect(() => queries.answer('one', () => 2)).toThrow(/answered already/);
    expect(() => queries.answer('two words', () => 2)).toThrow(/topic/);
    expect(() => queries.answer('wild.*', () => 2)).toThrow(/topic/);
  });
});
