import { getCurrentRequestId } from '@threadline/tracing';
import { InvalidRequestError } from '../protocol/invalid-request.error.js';

/** OpenAI's code for a prompt and completion that do not fit the model's context. */
export const CONTEXT_LENGTH_EXCEEDED = 'context_length_exceeded';

/** What a request asks of the model's context, in tokens. */
export interface ContextDemand {
  /** The prompt's tokens; a lower bound of them when `atLeast`. */
  promptTokens: number;
  atLeast: boolean;
  /** `max_tokens` (or `max_completion_tokens`); none: the room left, which must be one token at least. */
  completionTokens: number | undefined;
  /** What holds the prompt: the chat's `messages`, or the completion's `prompt`. */
  param: 'messages' | 'prompt';
}

/**
 * Refuses a request whose prompt and completion do not fit `maxModelLen` tokens, with OpenAI's 400
 * (`context_length_exceeded`) and its message, which names both numbers.
 */
export function assertFitsContext(maxModelLen: number, demand: ContextDemand): void {
  const { promptTokens, completionTokens, param } = demand;
  if (promptTokens + (completionTokens ?? 1) <= maxModelLen) return;
  const atLeast = demand.atLeast ? 'at least ' : '';
  const limit = `This model's maximum context length is ${maxModelLen} tokens.`;
  const message =
    completionTokens === undefined
      ? `${limit} However, your ${param} resulted in ${atLeast}${promptTokens} tokens, which leaves no room for the completion. Please reduce the length of the ${param}.`
      : `${limit} However, you requested ${atLeast}${promptTokens + completionTokens} tokens (${atLeast}${promptTokens} in the ${param}, ${completionTokens} in the completion). Please reduce the length of the ${param} or completion.`;
  throw new InvalidRequestError(withRequestId(message), param, 400, CONTEXT_LENGTH_EXCEEDED);
}

function withRequestId(message: string): string {
  const id = getCurrentRequestId();
  return id === undefined ? message : `${message} (request id ${id})`;
}
