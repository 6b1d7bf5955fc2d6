import pino from 'pino';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { isExpectedError } from './expected-error.js';
import { Traced } from './traced.decorator.js';
import { tracingGlobals } from './tracing.globals.js';

class Refusing {
  @Traced()
  async refuse(error: unknown): Promise<void> {
    throw error;
  }

  @Traced()
  async *refuseStream(error: unknown): AsyncGenerator<number> {
    throw error;
  }
}

interface Line {
  level: number;
  msg: string;
  err?: unknown;
}

/** Sets `tracingGlobals.logger` to a debug logger whose lines are kept; returns them. */
function captureLines(): Line[] {
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(JSON.parse(chunk.toString()) as Line);
      callback();
    },
  });
  tracingGlobals.logger = pino({ level: 'debug' }, sink);
  return lines;
}

describe('expected refusals', () => {
  const previous = tracingGlobals.logger;
  afterEach(() => {
    tracingGlobals.logger = previous;
  });

  it('isExpectedError is true only for an object with expected: true', () => {
    expect(isExpectedError(Object.assign(new Error('full'), { expected: true }))).toBe(true);
    expect(isExpectedError({ expected: true })).toBe(true);
    expect(isExpectedError(Object.assign(new Error('x'), { expected: 'yes' }))).toBe(false);
    expect(isExpectedError(new Error('fault'))).toBe(false);
    expect(isExpectedError(undefined)).toBe(false);
  });

  it('@Traced() logs an expected refusal at debug without its error, and a fault at error with it', async () => {
    const lines = captureLines();
    const refusing = new Refusing();
    const refusal = Object.assign(new Error('queue full'), { expected: true });
    await expect(refusing.refuse(refusal)).rejects.toBe(refusal);
    await expect(refusing.refuseStream(refusal).next()).rejects.toBe(refusal);
    await expect(refusing.refuse(new Error('fault'))).rejects.toThrow('fault');
    await new Promise((resolve) => setImmediate(resolve));
    expect(
      lines.filter((line) => line.msg.endsWith('refused')).map((line) => [line.level, line.msg, 'err' in line]),
    ).toEqual([
      [20, 'Refusing.refuse refused', false],
      [20, 'Refusing.refuseStream refused', false],
    ]);
    expect(lines.filter((line) => line.level >= 50).map((line) => [line.msg, 'err' in line])).toEqual([
      ['Refusing.refuse failed', true],
    ]);
  });
});
