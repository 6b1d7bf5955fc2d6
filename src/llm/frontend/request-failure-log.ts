import { Logger } from '@nestjs/common';
import { isExpectedError } from '@threadline/tracing';
import { isClientGone } from './client-gone.js';
import type { OpenAIErrorBody } from './openai-error.js';

const logger = new Logger('Frontend');

/**
 * The one line a failed request writes at the Frontend, whether its error is the response or, after a
 * stream's head, its last event. An expected refusal (bad input, a full queue, nothing to serve it, a
 * deadline passed, the client gone) is a warning without a stack: under overload there are many, and they are not faults.
 * Called in the request's context, so the line carries its id.
 */
export function logRequestFailure(error: unknown, status: number, body: OpenAIErrorBody): void {
  const { message, code } = body.error;
  // The error's own message, where the client was told less of it (an instance's id, say).
  const own =
    status >= 500 && error instanceof Error && !message.includes(error.message) ? { detail: error.message } : {};
  if (isClientGone()) logger.warn({ msg: `request ended: the client went away (${message})`, status, code, ...own });
  else if (status < 500 || isExpectedError(error)) {
    logger.warn({ msg: `request refused: ${message}`, status, code, ...own });
  } else logger.error({ msg: `request failed: ${message}`, err: error });
}
