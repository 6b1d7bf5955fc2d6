/**
 * The upstream model server failed the request (502), could not be reached (503) or did not answer in
 * time (504): a fault on the service's side, never the client's, logged as an error. The runtime carries
 * its fields across hops, and the Frontend answers with an OpenAI `server_error` body.
 */
export class UpstreamFailureError extends Error {
  readonly expected = false;

  constructor(
    message: string,
    readonly status: 502 | 503 | 504,
    readonly code: string,
  ) {
    super(message);
    this.name = 'UpstreamFailureError';
  }
}
