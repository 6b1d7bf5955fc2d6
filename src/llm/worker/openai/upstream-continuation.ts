import type OpenAI from 'openai';
import { IncrementalDetokenizer } from '../../processor/incremental-detokenizer.js';
import type { Tokenizer } from '../../processor/tokenizer.js';
import type { GenerateRequest } from '../../protocol/pipeline.types.js';

/**
 * A migrated generation asked of an OpenAI-compatible server, which knows nothing of the worker that
 * lost it: a new request whose prompt ends with the text already produced, so that the server's answer
 * is what comes after it. `undefined` for a request that continues nothing.
 */
function carriedText(request: GenerateRequest, tokenizer: Tokenizer): string | undefined {
  if (request.continuation === undefined) return undefined;
  const detokenizer = new IncrementalDetokenizer(tokenizer);
  const produced = request.tokenIds.slice(request.continuation.promptTokens);
  return detokenizer.push(produced) + detokenizer.flush();
}

/**
 * The completions prompt: the client's text followed by the text produced; a prompt of token ids
 * followed by the ids produced, which are this service's tokenizer's (right only when the upstream's
 * is the same).
 */
export function upstreamPrompt(request: GenerateRequest, tokenizer: Tokenizer): string | number[] {
  const prompt = request.original.prompt;
  if (prompt === undefined) return request.tokenIds;
  const carried = carriedText(request, tokenizer);
  if (carried === undefined) return prompt;
  if (typeof prompt === 'string') return prompt + carried;
  return [...prompt, ...request.tokenIds.slice(request.continuation!.promptTokens)];
}

/**
 * The chat request's messages, and for a continuation the partial assistant message after them with
 * vLLM's parameters that make the server go on with it rather than start a new turn
 * (`continue_final_message`, `add_generation_prompt: false`; SGLang reads them too). A server without
 * them refuses the request or answers anew.
 */
export function upstreamChat(
  messages: OpenAI.ChatCompletionMessageParam[],
  request: GenerateRequest,
  tokenizer: Tokenizer,
): { messages: OpenAI.ChatCompletionMessageParam[]; continue_final_message?: true; add_generation_prompt?: false } {
  const carried = carriedText(request, tokenizer);
  if (carried === undefined) return { messages };
  return {
    messages: [...messages, { role: 'assistant', content: carried }],
    continue_final_message: true,
    add_generation_prompt: false,
  };
}
