import { BadRequestException, ServiceUnavailableException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { ClientDisconnectedError, DeadlineExceededError } from '@threadline/tracing';
import { EndpointError } from './endpoint.error.js';

const WHERE = { requestId: 'req-1', component: 'worker', endpoint: 'generate' };

describe('EndpointError', () => {
  it('keeps its data, and toJSON() gives it back so that a copy made from it is the same', () => {
    const error = new EndpointError({
      ...WHERE,
      message: 'full',
      status: 503,
      code: 'overloaded',
      param: 'n',
      expected: true,
      retryAfterSeconds: 2,
    });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('EndpointError');
    expect(error.message).toBe('full');
    const data = error.toJSON();
    expect(data).toEqual({
      ...WHERE,
      message: 'full',
      status: 503,
      code: 'overloaded',
      param: 'n',
      expected: true,
      retryAfterSeconds: 2,
    });
    expect(new EndpointError(JSON.parse(JSON.stringify(data)) as typeof data).toJSON()).toEqual(data);
  });

  it('keeps `expected` only when true, and a retry delay only when a whole number of seconds from 0', () => {
    const base = { ...WHERE, message: 'm', status: 503, code: 'c' };
    expect(new EndpointError({ ...base, expected: false }).expected).toBeUndefined();
    for (const retryAfterSeconds of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(
        new EndpointError({ ...base, retryAfterSeconds }).retryAfterSeconds,
        String(retryAfterSeconds),
      ).toBeUndefined();
    }
    expect(new EndpointError({ ...base, retryAfterSeconds: 0 }).retryAfterSeconds).toBe(0);
  });

  describe('from()', () => {
    it('returns an EndpointError as it is', () => {
      const error = new EndpointError({ ...WHERE, message: 'm', status: 400, code: 'c' });
      expect(EndpointError.from(error, { requestId: 'other', component: 'x', endpoint: 'y' })).toBe(error);
    });

    it('an Error without a status: 500 internal_error, its message, where it happened', () => {
      const error = EndpointError.from(new Error('boom'), WHERE);
      expect(error.toJSON()).toMatchObject({ ...WHERE, message: 'boom', status: 500, code: 'internal_error' });
      expect(error.expected).toBeUndefined();
    });

    it("a request's cancellations as what they are, expected: its client gone a 499, its deadline a 504", () => {
      // Work stopped by its client's leaving (a long prompt dropped after its tokenization) is no fault.
      expect(EndpointError.from(new ClientDisconnectedError(), WHERE).toJSON()).toMatchObject({
        status: 499,
        code: 'cancelled',
        expected: true,
      });
      expect(EndpointError.from(new DeadlineExceededError(), WHERE).toJSON()).toMatchObject({
        status: 504,
        code: 'deadline_exceeded',
        expected: true,
      });
    });

    it("a Nest HttpException's status (getStatus()), and a 4xx's code defaults to invalid_request_error", () => {
      expect(EndpointError.from(new BadRequestException('bad'), WHERE).toJSON()).toMatchObject({
        status: 400,
        code: 'invalid_request_error',
        message: 'bad',
      });
      expect(EndpointError.from(new ServiceUnavailableException('busy'), WHERE).toJSON()).toMatchObject({
        status: 503,
        code: 'internal_error',
      });
    });

    it('a `status` field, `code`, `param` and `retryAfterSeconds` as the error declares them', () => {
      const declared = Object.assign(new Error('too long'), {
        status: 429,
        code: 'rate_limit_exceeded',
        param: 'messages',
        retryAfterSeconds: 7,
      });
      expect(EndpointError.from(declared, WHERE).toJSON()).toMatchObject({
        status: 429,
        code: 'rate_limit_exceeded',
        param: 'messages',
        retryAfterSeconds: 7,
      });
    });

    it('a status outside 400-599, or not a number, is 500; fields of the wrong type are left out', () => {
      for (const status of [200, 399, 600, '404'])
        expect(EndpointError.from(Object.assign(new Error('x'), { status }), WHERE).status, String(status)).toBe(500);
      const odd = Object.assign(new Error('x'), { status: 400, code: 42, param: {}, retryAfterSeconds: '3' });
      const error = EndpointError.from(odd, WHERE);
      expect(error.code).toBe('invalid_request_error');
      expect(error.param).toBeUndefined();
      expect(error.retryAfterSeconds).toBeUndefined();
    });

    it('anything thrown that is not an Error: its String() as the message', () => {
      expect(EndpointError.from('plain text', WHERE).message).toBe('plain text');
      expect(EndpointError.from(undefined, WHERE).toJSON()).toMatchObject({ message: 'undefined', status: 500 });
      expect(EndpointError.from(null, WHERE).message).toBe('null');
    });

    it('an error marked `expected: true` stays expected; any other mark does not count', () => {
      expect(
        EndpointError.from(Object.assign(new Error('queue full'), { expected: true, status: 503 }), WHERE).expected,
      ).toBe(true);
      expect(EndpointError.from(Object.assign(new Error('x'), { expected: 'yes' }), WHERE).expected).toBeUndefined();
    });
  });
});
