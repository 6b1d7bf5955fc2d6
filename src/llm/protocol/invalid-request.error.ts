/**
 * A request the service cannot serve as asked, in OpenAI's terms: its status, `code` and the `param`
 * at fault. The runtime carries these fields across hops, and the Frontend turns them into an OpenAI
 * error body.
 */
export class InvalidRequestError extends Error {
  /** A problem with the request (a 4xx) is an expected refusal; an upstream's 5xx is a fault. */
  readonly expected: boolean;

  constructor(
    message: string,
    readonly param: string | undefined = undefined,
    readonly status = 400,
    readonly code = 'invalid_request_error',
  ) {
    super(message);
    this.name = 'InvalidRequestError';
    this.expected = status < 500;
  }
}
