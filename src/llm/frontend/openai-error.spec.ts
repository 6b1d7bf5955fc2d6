import { EndpointError } from '@threadline/runtime';
import { describe, expect, it } from 'vitest';
import { toOpenAIError } from './openai-error.js';

const WHERE = { requestId: 'req-1', component: 'worker', endpoint: 'generate' };

describe('toOpenAIError', () => {
  it("tells a client that a component's instance went away without naming it (its host and process)", () => {
    const gone = new EndpointError({
      ...WHERE,
      message: 'worker instance worker-gpu-node-7-4242-0 went away while serving the call.',
      status: 503,
      code: 'instance_gone',
    });
    expect(toOpenAIError(gone, 'req-1')).toEqual({
      status: 503,
      body: {
        error: {
          message: 'The worker instance serving this request went away. (request id req-1)',
          type: 'server_error',
          param: null,
          code: 'instance_gone',
        },
      },
    });
    const notRunning = new EndpointError({
      ...WHERE,
      message: 'worker instance worker-gpu-node-7-4242-0 is not running.',
      status: 503,
      code: 'instance_unavailable',
    });
    expect(toOpenAIError(notRunning, 'req-1').body.error.message).not.toContain('gpu-node-7');
  });

  it('does not tell a client where the message bus is', () => {
    const bus = new EndpointError({
      ...WHERE,
      message: 'The message bus (NATS at nats://***@bus.internal:4222) is unavailable.',
      status: 503,
      code: 'bus_unavailable',
    });
    expect(toOpenAIError(bus, 'req-1').body.error.message).toBe(
      "The message bus between the service's processes is unavailable. (request id req-1)",
    );
  });

  it('keeps the message of a failure that names nothing of the inside', () => {
    const none = new EndpointError({
      ...WHERE,
      message: 'No instance of worker is listening for calls.',
      status: 503,
      code: 'component_unavailable',
    });
    expect(toOpenAIError(none, 'req-1').body.error.message).toBe(
      'No instance of worker is listening for calls. (request id req-1)',
    );
  });
});
