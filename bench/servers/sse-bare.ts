/**
 * The baseline of the streaming benchmark: a bare Fastify 5 server (no Nest, no request ids, no
 * pipeline) with one route, `POST /v1/completions`, that streams as fast as it can what the
 * Threadline pipeline streams for a completion: the `: ok` comment, one OpenAI `text_completion`
 * chunk per token (`data: {...}\n\n`, built with JSON.stringify as any server would), a finish chunk,
 * then `data: [DONE]`. It writes exactly `max_tokens` token chunks (the benchmark asks it for as many
 * as the pipeline produces) straight to the socket, waiting on back-pressure, and lets other streams
 * run every 16 tokens as the mocker engine does with no decode delay. Prints `READY <port>`.
 */
import Fastify from 'fastify';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';

const WORDS =
  ' the a of and to in is that for it as with was on be by this are from at or an have not which but all they one you were'
    .split(' ')
    .slice(1);
const TOKENS_PER_YIELD = 16;

const app = Fastify({ logger: false });

app.post('/v1/completions', async (request, reply) => {
  const body = request.body as { model?: string; max_tokens?: number };
  const tokens = body.max_tokens ?? 16;
  const id = `cmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const model = body.model ?? 'threadline-mocker';
  const chunk = (text: string, finish: string | null) =>
    `data: ${JSON.stringify({ id, object: 'text_completion', created, model, choices: [{ index: 0, text, logprobs: null, finish_reason: finish }] })}\n\n`;

  reply.hijack();
  const res = reply.raw;
  let closed = false;
  res.once('close', () => (closed = true));
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  res.write(': ok\n\n');
  for (let i = 0; i < tokens && !closed; i++) {
    if (!res.write(chunk(` ${WORDS[(i * 7) % WORDS.length]}`, null)))
      await Promise.race([once(res, 'drain'), once(res, 'close')]);
    if ((i + 1) % TOKENS_PER_YIELD === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  if (closed) return;
  res.write(chunk('', 'stop'));
  res.end('data: [DONE]\n\n');
});

await app.listen({ port: 0, host: '127.0.0.1' });
console.log(`READY ${(app.server.address() as AddressInfo).port}`);
