import { Tokenizer } from '../../src/llm/processor/tokenizer.js';
import { MockText } from '../../src/llm/worker/mocker/mock-text.js';

/**
 * Streamed completions for the benchmarks that measure the pipeline's tokens/s: the request that makes
 * the mocker answer longest, and a client that reads one stream to the end and counts its tokens.
 */

/** One completion request and the number of tokens the pipeline streams for it. */
export interface StreamRequest {
  prompt: string;
  seed: number;
  maxTokens: number;
  tokens: number;
}

/** The model the service serves by default: the mocker. */
const MODEL = 'threadline-mocker';
const tokenizer = new Tokenizer();

/** The request for `prompt` whose seed gives the mocker's longest answer (of the first 4000 seeds). */
export function longestAnswer(prompt: string, maxTokens: number): StreamRequest {
  const ids = tokenizer.encode(prompt);
  let best = { seed: 0, length: -1 };
  for (let seed = 0; seed < 4000; seed++) {
    const length = new MockText(ids, seed).length;
    if (length > best.length) best = { seed, length };
  }
  return { prompt, seed: best.seed, maxTokens, tokens: Math.min(maxTokens, best.length) };
}

const TOKEN_MARK = '"finish_reason":null';

/** Streams one completion and reads it to the end; returns the token chunks seen and the time taken. */
export async function stream(
  url: string,
  server: string,
  request: StreamRequest,
  exactMaxTokens = false,
): Promise<{ tokens: number; ms: number }> {
  const started = performance.now();
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: MODEL,
      prompt: request.prompt,
      seed: request.seed,
      // A server that writes exactly max_tokens chunks is asked for what the pipeline streams.
      max_tokens: exactMaxTokens ? request.tokens : request.maxTokens,
      stream: true,
    }),
  });
  if (res.status !== 200) throw new Error(`${server}: HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let tokens = 0;
  let carry = ''; // text after the last mark that could be the start of one split across two reads
  let ending = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const decoded = decoder.decode(value, { stream: true });
    const text = carry + decoded;
    let end = 0;
    for (let at = text.indexOf(TOKEN_MARK); at !== -1; at = text.indexOf(TOKEN_MARK, end)) {
      tokens++;
      end = at + TOKEN_MARK.length;
    }
    carry = text.slice(Math.max(end, text.length - (TOKEN_MARK.length - 1)));
    ending = (ending + decoded).slice(-32);
  }
  const ms = performance.now() - started;
  if (!ending.endsWith('data: [DONE]\n\n')) throw new Error(`${server}: the stream did not end with data: [DONE]`);
  if (tokens !== request.tokens)
    throw new Error(`${server}: streamed ${tokens} token chunks, expected ${request.tokens}`);
  return { tokens, ms };
}
