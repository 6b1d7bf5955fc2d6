import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { CapacityError, RATE_LIMIT_CODE } from '../../protocol/capacity.error.js';
import { InvalidRequestError } from '../../protocol/invalid-request.error.js';
import { UpstreamFailureError } from '../../protocol/upstream-failure.error.js';

/**
 * An upstream's failure before its response head, while the request is not yet admitted: its 429 is
 * our 429, its 502, 503 or 504 and a connection it refused are our 503, each an expected refusal with
 * the upstream's `Retry-After` when it sent one (else the configured one). Anything else is as
 * `toUpstreamError` says.
 */
export function toUpstreamRefusal(error: unknown, apiKey?: string): unknown {
  if (error instanceof APIConnectionError && !(error instanceof APIConnectionTimeoutError)) {
    return new CapacityError(`The upstream model server is unreachable: ${error.message}`, 503, 'upstream_unreachable');
  }
  if (isApiError(error) && error.status !== undefined) {
    const retryAfter = retryAfterSeconds(error.headers);
    if (error.status === 429) {
      return new CapacityError(
        `The upstream model server is at capacity (429)${detailOf(error, apiKey)}`,
        429,
        RATE_LIMIT_CODE,
        retryAfter,
      );
    }
    if (error.status === 502 || error.status === 503 || error.status === 504) {
      return new CapacityError(
        `The upstream model server is unavailable (${error.status})${detailOf(error, apiKey)}`,
        503,
        'upstream_unavailable',
        retryAfter,
      );
    }
  }
  return toUpstreamError(error, apiKey);
}

/** `error instanceof APIError`, typed with the class's defaults: the check alone types its status and headers as `any`. */
function isApiError(error: unknown): error is APIError {
  return error instanceof APIError;
}

/** A `Retry-After` header in seconds (delta-seconds, or an HTTP date from now), or `undefined`. */
export function retryAfterSeconds(headers: Headers | undefined, now = Date.now()): number | undefined {
  const value = headers?.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

/**
 * An upstream server's failure as the error our client gets: the upstream's own 4xx passes through
 * (the request was bad there too), but for its 401 and 403, which refuse this service's credentials,
 * not the client's (a 502); its 5xx becomes 502, a timeout 504 and an unreachable server 503, each
 * with a message that says it was the upstream. No message names the upstream's address: it is the
 * service's inside, of no use to a client (the start-up log names it).
 */
export function toUpstreamError(error: unknown, apiKey?: string): unknown {
  if (error instanceof APIConnectionTimeoutError) {
    return new UpstreamFailureError(`The upstream model server did not answer in time.`, 504, 'upstream_timeout');
  }
  if (error instanceof APIConnectionError) {
    return new UpstreamFailureError(
      `The upstream model server is unreachable: ${error.message}`,
      503,
      'upstream_unreachable',
    );
  }
  if (isApiError(error)) {
    // No status: the upstream sent an error event in the middle of its stream.
    if (error.status === undefined || error.status >= 500) {
      const status = error.status === undefined ? 'mid-stream' : String(error.status);
      return new UpstreamFailureError(
        `The upstream model server failed (${status})${detailOf(error, apiKey)}`,
        502,
        'upstream_error',
      );
    }
    if (error.status === 401 || error.status === 403) {
      return new UpstreamFailureError(
        `The upstream model server refused this service's credentials (${error.status}): check UPSTREAM_API_KEY.`,
        502,
        'upstream_error',
      );
    }
    // The upstream's `param` names a field of our request to it, not of the client's: left out.
    return new InvalidRequestError(
      `The upstream model server refused the request (${error.status})${detailOf(error, apiKey)}`,
      undefined,
      error.status,
      'upstream_rejected',
    );
  }
  return error;
}

/**
 * A failure after the upstream's response head: its error event, or its stream broken off (the
 * connection lost, a line that is not JSON), each the upstream's fault, a 502.
 */
export function toUpstreamStreamError(error: unknown, apiKey?: string): unknown {
  const failure = toUpstreamError(error, apiKey);
  if (failure !== error || !(error instanceof Error) || error instanceof UpstreamFailureError) return failure;
  return new UpstreamFailureError(
    `The upstream model server broke off its stream: ${error.message}`,
    502,
    'upstream_error',
  );
}

/** The upstream's stream ended without a finish reason: its answer was cut off. */
export function upstreamCutOff(): UpstreamFailureError {
  return new UpstreamFailureError(
    `The upstream model server ended its stream before its answer was complete.`,
    502,
    'upstream_error',
  );
}

/**
 * A chunk of the upstream's stream without choices: an error it wrote at the top level, with what it
 * said (its `message`, or its `error.message`), or else a chunk of no use.
 */
export function upstreamChunkWithoutChoices(chunk: object, apiKey: string | undefined): UpstreamFailureError {
  const { message, error } = chunk as { message?: unknown; error?: { message?: unknown } };
  const said = messageDetail(typeof message === 'string' ? message : error?.message, apiKey);
  return new UpstreamFailureError(
    said === ''
      ? 'The upstream model server sent a chunk of its stream without choices.'
      : `The upstream model server failed (mid-stream)${said}`,
    502,
    'upstream_error',
  );
}

/** The upstream ended its answer with a finish reason that says it failed (vLLM's `abort`, an `error`). */
export function upstreamUnknownFinish(reason: string): UpstreamFailureError {
  const shown = JSON.stringify(reason.length > 40 ? `${reason.slice(0, 40)}…` : reason);
  return new UpstreamFailureError(
    `The upstream model server ended its answer with finish reason ${shown}: it did not complete it.`,
    502,
    'upstream_error',
  );
}

/** The upstream sent nothing for `timeoutMs` in the middle of its stream. */
export function upstreamSilent(timeoutMs: number): UpstreamFailureError {
  return new UpstreamFailureError(
    `The upstream model server sent nothing for ${timeoutMs} ms in the middle of its stream.`,
    504,
    'upstream_timeout',
  );
}

/** The longest piece of an upstream's own error message passed on. */
const MAX_DETAIL = 300;

/**
 * What the upstream said of its failure, for our message (`: <its message>`, or nothing): only the
 * `message` of an OpenAI error body, never a body of another kind (an HTML page, a proxy's text, which
 * may tell of the upstream's insides), with this service's API key, should the upstream repeat it,
 * blanked out.
 */
function detailOf(error: APIError, apiKey: string | undefined): string {
  const body: { message?: unknown } | undefined = error.error;
  return messageDetail(body?.message, apiKey);
}

/** `: <message>` for the upstream's own message, cut short and without this service's key; nothing when there is none. */
function messageDetail(said: unknown, apiKey: string | undefined): string {
  if (typeof said !== 'string' || said.trim() === '') return '';
  let message = said.trim();
  if (apiKey !== undefined && apiKey.length > 0) message = message.split(apiKey).join('[redacted]');
  if (message.length > MAX_DETAIL) message = `${message.slice(0, MAX_DETAIL)}…`;
  return `: ${message}`;
}
