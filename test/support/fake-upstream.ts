import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MODEL } from './requests.js';

/**
 * A stand-in OpenAI-compatible upstream (node:http) for the `openai` engine: it answers as a test tells
 * it, and records what it was sent.
 */

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface FakeUpstream {
  /** `http://127.0.0.1:<port>/v1`, as UPSTREAM_URL */
  url: string;
  /** Every request but the `GET /v1/models` the service sends at start-up. */
  received: Received[];
  close(): Promise<void>;
}

export interface FakeUpstreamOptions {
  /**
   * Answer `GET /v1/models` with a list naming the served model and this `max_model_len` (`null`: the
   * field left out). Unset, that request goes to `answer` like any other.
   */
  maxModelLen?: number | null;
}

/** Answers one request; `body` is its JSON body, parsed (`undefined` when it had none). */
export type UpstreamAnswer = (req: IncomingMessage, res: ServerResponse, body: unknown) => void;

export async function startFakeUpstream(
  answer: UpstreamAnswer,
  options: FakeUpstreamOptions = {},
): Promise<FakeUpstream> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      // The service asks for the upstream's models once, at start-up, to learn its context length.
      const modelsLookup = req.method === 'GET' && req.url === '/v1/models';
      if (modelsLookup && options.maxModelLen !== undefined) {
        const model = {
          id: MODEL,
          object: 'model',
          owned_by: 'vllm',
          ...(options.maxModelLen === null ? {} : { max_model_len: options.maxModelLen }),
        };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [model] }));
        return;
      }
      const body: unknown = text === '' ? undefined : JSON.parse(text);
      if (!modelsLookup) received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      answer(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Runs `run` with a fake upstream answering with `answer`, and closes the upstream however `run` ends. */
export async function withFakeUpstream<T>(
  answer: UpstreamAnswer,
  run: (fake: FakeUpstream) => Promise<T>,
  options: FakeUpstreamOptions = {},
): Promise<T> {
  const fake = await startFakeUpstream(answer, options);
  try {
    return await run(fake);
  } finally {
    await fake.close();
  }
}

/** Answers every request with `status` (and `headers`) and an OpenAI error body. */
export function failing(status: number, message: string, headers: Record<string, string> = {}): UpstreamAnswer {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ error: { message, type: 'server_error', param: null, code: null } }));
  };
}

/** The vector the embeddings stand-in gives input `index`, whatever it holds: easy to tell apart. */
export function fakeEmbedding(index: number): number[] {
  return [index + 1, 0.5, -0.25, 0.125];
}

/**
 * An upstream's `POST /v1/embeddings` as OpenAI answers it: `fakeEmbedding(i)` for input `i`, as
 * little-endian float32 in base64 when asked for (unless `numbersOnly`: an upstream that always sends
 * numbers), and `tokensPerInput` tokens an input in its usage. Any other route is a 404.
 */
export function embeddingsRoute(options: { numbersOnly?: boolean; tokensPerInput?: number } = {}): UpstreamAnswer {
  return (req, res, body) => {
    if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { message: 'no such route', type: 'invalid_request_error', param: null, code: null } }),
      );
      return;
    }
    const { input, model, encoding_format } = body as {
      input: unknown[] | string;
      model: string;
      encoding_format?: string;
    };
    const count =
      typeof input === 'string' || (!Array.isArray(input[0]) && typeof input[0] !== 'string') ? 1 : input.length;
    const base64 = encoding_format === 'base64' && !options.numbersOnly;
    const data = Array.from({ length: count }, (_, index) => {
      const vector = fakeEmbedding(index);
      const bytes = Buffer.alloc(4 * vector.length);
      vector.forEach((value, i) => bytes.writeFloatLE(value, 4 * i));
      const embedding = base64 ? bytes.toString('base64') : vector;
      return { object: 'embedding', index, embedding };
    });
    const tokens = count * (options.tokensPerInput ?? 3);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } }));
  };
}

/** What `scriptedStream` sends: chat deltas (content, tool call pieces, logprobs) or completion pieces, then a finish reason. */
export interface StreamScript {
  chat?: Array<{ delta: Record<string, unknown>; logprobs?: unknown }>;
  completion?: Array<{ text: string; logprobs?: unknown }>;
  finishReason: string;
}

/**
 * An upstream that streams `script` as OpenAI's chunks (`data:` lines, then `[DONE]`), to either API:
 * tool call deltas and logprobs as OpenAI sends them, so a test can check what the engine makes of them.
 */
export function scriptedStream(script: StreamScript): UpstreamAnswer {
  return (req, res) => {
    const chat = req.url === '/v1/chat/completions';
    const base = { id: 'up-1', object: chat ? 'chat.completion.chunk' : 'text_completion', created: 0, model: MODEL };
    const pieces = chat
      ? (script.chat ?? []).map(({ delta, logprobs }) => ({
          index: 0,
          delta,
          logprobs: logprobs ?? null,
          finish_reason: null,
        }))
      : (script.completion ?? []).map(({ text, logprobs }) => ({
          index: 0,
          text,
          logprobs: logprobs ?? null,
          finish_reason: null,
        }));
    const last = chat
      ? { index: 0, delta: {}, logprobs: null, finish_reason: script.finishReason }
      : { index: 0, text: '', logprobs: null, finish_reason: script.finishReason };
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const choice of [...pieces, last]) res.write(`data: ${JSON.stringify({ ...base, choices: [choice] })}\n\n`);
    res.end('data: [DONE]\n\n');
  };
}

/** How `pacedAnswer` answers: `words` words, one a chunk, every `intervalMs`. */
export interface PacedAnswerOptions {
  words: number;
  intervalMs: number;
}

/** The whole text `pacedAnswer` gives any prompt, as the chunks it streams: ` w1`, ` w2`… */
export function pacedWords(words: number): string[] {
  return Array.from({ length: words }, (_, i) => ` w${i + 1}`);
}

/**
 * A slow upstream that streams the same answer (`pacedWords`) to every streamed request of either API,
 * a word a chunk at a steady pace (at most `max_tokens` words, then `length`), so that a test can stop
 * the engine's process in the middle. Like a real model server asked to continue, it goes on after the
 * part of its answer that the request already holds: the end of a completions prompt, or a chat's final
 * assistant message sent with `continue_final_message`. It stops writing when the connection closes.
 */
export function pacedAnswer(options: PacedAnswerOptions): UpstreamAnswer {
  const words = pacedWords(options.words);
  return (req, res, body) => {
    const chat = req.url === '/v1/chat/completions';
    const request = body as {
      prompt?: unknown;
      messages?: Array<{ role: string; content: string }>;
      continue_final_message?: boolean;
      max_tokens?: number;
    };
    const last = request.messages?.at(-1);
    const held =
      chat && request.continue_final_message === true && last?.role === 'assistant'
        ? last.content
        : typeof request.prompt === 'string'
          ? request.prompt
          : '';
    // The longest head of the answer the request ends with: the words already given.
    let start = words.length;
    while (start > 0 && !held.endsWith(words.slice(0, start).join(''))) start--;
    const end = Math.min(words.length, start + (request.max_tokens ?? words.length));
    const base = {
      id: 'up-paced',
      object: chat ? 'chat.completion.chunk' : 'text_completion',
      created: 0,
      model: MODEL,
    };
    const chunk = (text: string, finish: string | null) =>
      `data: ${JSON.stringify({
        ...base,
        choices: [
          chat
            ? { index: 0, delta: { content: text }, finish_reason: finish }
            : { index: 0, text, finish_reason: finish },
        ],
      })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    let next = start;
    const timer = setInterval(() => {
      if (next < end) {
        res.write(chunk(words[next++]!, null));
        return;
      }
      clearInterval(timer);
      res.write(chunk('', end === words.length ? 'stop' : 'length'));
      res.end('data: [DONE]\n\n');
    }, options.intervalMs);
    res.on('close', () => clearInterval(timer));
  };
}
