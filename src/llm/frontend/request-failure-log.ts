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
  if (isClientGone()) logger.warn({ msg: `request ended: the client went away (${message})`, status, code });
  else if (status < 500 || isExpectedError(error)) logger.warn({ msg: `request refused: ${message}`, status, code });
  else logger.error({ msg: `request failed: ${message}`, err: error });
}
