import type { IncomingMessage, ServerResponse } from 'node:http';
import { expect } from 'vitest';
import type { LogLine } from './log-capture.js';
import { startPipeline } from './pipeline-app.js';
import type { PipelineApp } from './pipeline-app.js';
import { CHAT, MODEL } from './requests.js';
import type { Api, ErrorBody, Reply } from './requests.js';
import { serviceEvents } from './sse.js';

/**
 * For the tests of the `openai` engine (THREADLINE_ENGINE=openai): Threadline B forwards generation to an
 * OpenAI-compatible upstream (another Threadline, A, or a stand-in), streaming, with the request id in
 * `X-Request-Id`.
 */

/** The components of the pipeline, each of which logs a request it touches. */
export const PIPELINE = ['frontend', 'processor', 'router', 'worker'];

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export interface Choice {
  index: number;
  message?: { role: string; content: string };
  delta?: { role?: string; content?: string };
  text?: string;
  finish_reason: string | null;
}

/** A body, or a chunk, of either API (only the fields read here). */
export interface Body {
  id: string;
  object: string;
  model: string;
  choices: Choice[];
  usage?: Usage;
}

/** One response, streamed or not, reduced to what the client got. */
export interface Answer {
  /** `id` of the body, or of every chunk. */
  ids: string[];
  text: string;
  finishReason: string | null;
  usage: Usage | undefined;
}

/** Parses a successful response (a JSON body, or an SSE stream ending in `[DONE]`) of one choice. */
export function answer(api: Api, stream: boolean, reply: Reply): Answer {
  expect(reply.status, reply.text).toBe(200);
  if (!stream) {
    expect(reply.contentType).toBe('application/json; charset=utf-8');
    const body = JSON.parse(reply.text) as Body;
    expect(body.object).toBe(api === 'chat' ? 'chat.completion' : 'text_completion');
    expect(body.choices).toHaveLength(1);
    const choice = body.choices[0]!;
    return {
      ids: [body.id],
      text: (api === 'chat' ? choice.message!.content : choice.text)!,
      finishReason: choice.finish_reason,
      usage: body.usage,
    };
  }
  expect(reply.contentType).toBe('text/event-stream; charset=utf-8');
  const data = serviceEvents(reply.text);
  expect(data.at(-1)).toBe('[DONE]');
  const chunks = data.slice(0, -1).map((event) => JSON.parse(event) as Body);
  const choices = chunks.flatMap((chunk) => chunk.choices);
  const reasons = choices.map((choice) => choice.finish_reason).filter((reason) => reason !== null);
  expect(reasons).toHaveLength(1);
  const usages = chunks.filter((chunk) => chunk.usage !== undefined);
  expect(usages.length).toBeLessThanOrEqual(1);
  return {
    ids: chunks.map((chunk) => chunk.id),
    text: choices.map((choice) => (api === 'chat' ? (choice.delta!.content ?? '') : choice.text!)).join(''),
    finishReason: reasons[0]!,
    usage: usages[0]?.usage,
  };
}

/** Request number `n`: a story, with a system message for a chat; seed `40 + n`; then `extra`. */
export function storyBody(api: Api, n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base =
    api === 'chat'
      ? {
          model: MODEL,
          messages: [
            { role: 'system', content: 'You tell stories.' },
            { role: 'user', content: `Tell me story number ${n}.` },
          ],
        }
      : { model: MODEL, prompt: `Once upon a time, number ${n},` };
  return { ...base, seed: 40 + n, ...extra };
}

/** The body fields of a streamed request with its usage chunk, or none. */
export function streamed(stream: boolean): Record<string, unknown> {
  return stream ? { stream: true, stream_options: { include_usage: true } } : {};
}

/** The components that wrote at least one of `lines`. */
export function componentsOf(lines: LogLine[]): string[] {
  return [...new Set(lines.map((line) => line.component).filter((c): c is string => typeof c === 'string'))].sort();
}

/** The messages of `lines`, of one component's lines when given. */
export function messages(lines: LogLine[], component?: string): string[] {
  return lines
    .filter((line) => component === undefined || line.component === component)
    .map((line) => String(line.msg));
}

/** Boots a Threadline with the `openai` engine for one test, and closes it after `run`. */
export async function withEngine<T>(env: NodeJS.ProcessEnv, run: (b: PipelineApp) => Promise<T>): Promise<T> {
  const b = await startPipeline({ LOG_LEVEL: 'debug', THREADLINE_ENGINE: 'openai', ...env });
  try {
    return await run(b);
  } finally {
    await b.close();
  }
}

/** The OpenAI error body of a reply, which must be JSON. */
export function errorOf(reply: Reply): ErrorBody {
  expect(reply.contentType).toBe('application/json; charset=utf-8');
  return JSON.parse(reply.text) as ErrorBody;
}

/** The lines B logged for `id` at warn (40) and at error (50). */
export function refusalLines(b: PipelineApp, id: string): { warn: string[]; error: string[] } {
  const lines = b.logs.forRequest(id);
  return {
    warn: lines.filter((line) => line.level === 40).map((line) => String(line.msg)),
    error: lines.filter((line) => line.level === 50).map((line) => String(line.msg)),
  };
}

/**
 * An upstream that had accepted a streamed request and then fails sends its error as an SSE event
 * (as Threadline itself does, and vLLM): status 200, `data: {"error": ...}`. That is an upstream
 * failure like a 5xx, and should reach the client as one, with the upstream's reason.
 */
export function failingMidStream(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const chat = req.url === CHAT;
  const chunk = chat
    ? {
        id: 'x',
        object: 'chat.completion.chunk',
        created: 0,
        model: MODEL,
        choices: [{ index: 0, delta: { content: ' Hello' }, finish_reason: null }],
      }
    : {
        id: 'x',
        object: 'text_completion',
        created: 0,
        model: MODEL,
        choices: [{ index: 0, text: ' Hello', finish_reason: null }],
      };
  res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  res.end(
    `data: ${JSON.stringify({ error: { message: 'The worker is overloaded; retry later.', type: 'server_error', param: null, code: 'overloaded' } })}\n\n`,
  );
}
