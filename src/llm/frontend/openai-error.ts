import { HttpException } from '@nestjs/common';
import { EndpointError } from '@threadline/runtime';
import { RATE_LIMIT_CODE } from '../protocol/capacity.error.js';

/** An error response body in OpenAI's shape, which OpenAI's clients parse. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** Fastify's own errors (body parsing, size limits) carry their status as `statusCode`. */
interface FastifyLikeError {
  statusCode?: number;
  code?: string;
  message?: string;
}

/** What a body of a type the service has no parser for is told: it reads JSON alone. */
const BODY_MUST_BE_JSON =
  'The request body must be JSON, sent with Content-Type: application/json and no Content-Encoding.';

/**
 * Maps any error to an HTTP status and an OpenAI error body. Client errors keep their message; a
 * server error's details stay in the log, and the body names the request id so the two can be joined.
 * A 429 is typed as OpenAI types its request-rate limit (`requests`, `rate_limit_exceeded`), and names
 * the id too.
 */
export function toOpenAIError(
  error: unknown,
  requestId: string | undefined,
): { status: number; body: OpenAIErrorBody } {
  const { status, param, code, ...described } = describe(error);
  const message = status === 415 ? BODY_MUST_BE_JSON : described.message;
  const id = `(request id ${requestId ?? 'unknown'})`;
  // An upstream Threadline's message (passed on by the openai engine) names the same id already.
  const withId = (detail: string) => (detail.endsWith(id) ? detail : `${detail} ${id}`);
  if (status >= 500) {
    const detail = status === 500 ? 'The server had an error while processing your request.' : message;
    return { status, body: errorBody(withId(detail), 'server_error', null, code) };
  }
  if (status === 429) return { status, body: errorBody(withId(message), 'requests', null, code ?? RATE_LIMIT_CODE) };
  return { status, body: errorBody(message, 'invalid_request_error', param, code) };
}

/** Whether a client should come back later: a full queue (429) or nothing to serve it now (503). */
export function isRetryLater(status: number): boolean {
  return status === 429 || status === 503;
}

/**
 * What a client is told of a failure whose message names the service's inside, by its code: an
 * instance's id (the host and process it runs in) or where the message bus is. The request's log line
 * keeps the whole message (`logRequestFailure`).
 */
const CLIENT_MESSAGES: Partial<Record<string, (component: string) => string>> = {
  instance_gone: (component) => `The ${component} instance serving this request went away.`,
  instance_unavailable: (component) => `The ${component} instance chosen for this request is not running.`,
  bus_unavailable: () => "The message bus between the service's processes is unavailable.",
};

function describe(error: unknown): { status: number; message: string; param: string | null; code: string | null } {
  if (error instanceof EndpointError) {
    const message = CLIENT_MESSAGES[error.code]?.(error.component) ?? error.message;
    return { status: error.status, message, param: error.param ?? null, code: error.code };
  }
  if (error instanceof HttpException) {
    const response = error.getResponse();
    const message =
      typeof response === 'string' ? response : (textOf((response as { message?: unknown }).message) ?? error.message);
    return { status: error.getStatus(), message, param: null, code: codeFor(error.getStatus()) };
  }
  const fastify = error as FastifyLikeError;
  if (typeof fastify?.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    return {
      status: fastify.statusCode,
      message: fastify.message ?? 'Bad request.',
      param: null,
      code: codeFor(fastify.statusCode),
    };
  }
  return { status: 500, message: 'Internal error.', param: null, code: 'internal_error' };
}

/** An HttpException's `message`: a string, or the list of them a validation failure gives. */
function textOf(message: unknown): string | undefined {
  if (typeof message === 'string') return message;
  if (Array.isArray(message) && message.every((item) => typeof item === 'string')) return message.join(',');
  return undefined;
}

function codeFor(status: number): string | null {
  if (status === 404) return 'not_found';
  if (status === 413) return 'request_too_large';
  if (status === 415) return 'unsupported_media_type';
  if (status === 429) return RATE_LIMIT_CODE;
  return null;
}

function errorBody(message: string, type: string, param: string | null, code: string | null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}
