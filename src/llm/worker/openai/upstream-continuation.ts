import type OpenAI from 'openai';
import { IncrementalDetokenizer } from '../../processor/incremental-detokenizer.js';
import type { Tokenizer } from '../../processor/tokenizer.js';
import type { GenerateRequest } from '../../protocol/pipeline.types.js';

/**
 * A migrated generation asked of an OpenAI-compatible server, which knows nothing of the worker that
 * lost it: a new request whose prompt ends with the answer already produced, so that the server's answer
 * is what comes after it. The model's reasoning is not part of that text: a chat request has no way to
 * hand a server reasoning to go on with (only the answer can be continued), and as the answer's text the
 * server would continue it as answer. `undefined` for a request that continues nothing.
 */
function carriedText(request: GenerateRequest, tokenizer: Tokenizer): string | undefined {
  if (request.continuation === undefined) return undefined;
  const detokenizer = new IncrementalDetokenizer(tokenizer);
  return detokenizer.push(answerIds(request)) + detokenizer.flush();
}

/** The ids of the answer produced so far, after the prompt and the reasoning. */
function answerIds(request: GenerateRequest): number[] {
  const { promptTokens, reasoningTokens = 0 } = request.continuation!;
  return request.tokenIds.slice(promptTokens + reasoningTokens);
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
  return [...prompt, ...answerIds(request)];
}

/** vLLM's chat parameters as the upstream request carries them. */
interface TemplateParams {
  continue_final_message?: boolean;
  add_generation_prompt?: boolean;
}

/**
 * The chat request's messages with the client's own vLLM template parameters, and for a continuation
 * the partial answer: after them as an assistant message with vLLM's parameters that make the server go
 * on with it rather than start a new turn (`continue_final_message`, `add_generation_prompt: false`;
 * SGLang reads them too), or, when the client's request already continued its last message, at the end
 * of it. A server without them refuses the request or answers anew. A generation lost while the model
 * was still reasoning, with no answer yet, is asked anew: its reasoning starts again, as reasoning.
 */
export function upstreamChat(
  messages: OpenAI.ChatCompletionMessageParam[],
  request: GenerateRequest,
  tokenizer: Tokenizer,
): { messages: OpenAI.ChatCompletionMessageParam[] } & TemplateParams {
  const template = request.original.chatTemplate;
  const carried = carriedText(request, tokenizer);
  if (carried === undefined || carried === '') {
    if (template === undefined) return { messages };
    const params: TemplateParams = { add_generation_prompt: template.addGenerationPrompt };
    if (template.continueFinalMessage) params.continue_final_message = true;
    return { messages, ...params };
  }
  const continued = { continue_final_message: true, add_generation_prompt: false } as const;
  const last = messages.at(-1);
  if (template?.continueFinalMessage !== true || last?.role !== 'assistant')
    return { messages: [...messages, { role: 'assistant', content: carried }], ...continued };
  return { messages: [...messages.slice(0, -1), { ...last, content: textOf(last.content) + carried }], ...continued };
}

/** An assistant message's content as one text: its text parts joined by line breaks, as vLLM joins them. */
function textOf(content: OpenAI.ChatCompletionAssistantMessageParam['content']): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  return content.map((part) => (part.type === 'text' ? part.text : part.refusal)).join('\n');
}
