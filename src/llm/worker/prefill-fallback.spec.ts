import 'reflect-metadata';
import { EndpointError } from '@threadline/runtime';
import { describe, expect, it } from 'vitest';
import { isPrefillUnavailable } from './worker.component.js';

const failure = (status: number, code: string) =>
  new EndpointError({ message: code, status, code, requestId: 'r', component: 'prefill', endpoint: 'prefill' });

/** Which failures of a Worker's call to a Prefill worker make the Worker prefill the prompt itself. */
describe('isPrefillUnavailable', () => {
  it('no instance, its instance gone or silent, the bus down: the Worker prefills locally', () => {
    for (const code of [
      'component_unavailable',
      'instance_gone',
      'instance_unavailable',
      'instance_shutting_down',
      'no_instance_answered',
      'transport_error',
      'bus_unavailable',
    ])
      expect(isPrefillUnavailable(failure(503, code)), code).toBe(true);
  });

  it("the request's own cancellation or deadline, a bad request, an engine's error: the caller sees it", () => {
    for (const [status, code] of [
      [499, 'cancelled'],
      [504, 'deadline_exceeded'],
      [400, 'invalid_request_error'],
      [500, 'internal_error'],
      [503, 'caller_silent'],
    ] as const)
      expect(isPrefillUnavailable(failure(status, code)), code).toBe(false);
    expect(isPrefillUnavailable(new Error('boom'))).toBe(false);
    expect(isPrefillUnavailable(undefined)).toBe(false);
  });
});
