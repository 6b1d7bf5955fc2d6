import { ExpectedRefusal } from './expected-refusal.error.js';

/**
 * The client's request is at fault (a 4xx), in OpenAI's terms: its status, `code` and the `param` at
 * fault. An expected refusal, not a fault of the service; the runtime carries these fields across hops,
 * and the Frontend turns them into an OpenAI error body. A failure on our side is an UpstreamFailureError.
 */
export class InvalidRequestError extends ExpectedRefusal {
  constructor(
    message: string,
    readonly param: string | undefined = undefined,
    readonly status = 400,
    readonly code = 'invalid_request_error',
  ) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}
