import type { IncomingMessage, ServerResponse } from 'node:http';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { withFakeUpstream } from '../../support/fake-upstream.js';
import { CHAT, MODEL } from '../../support/requests.js';
import { withEngine } from '../../support/upstream-engine.js';

/** The upstream's `system_fingerprint` (which backend configuration answered) reaches the client. */

const FINGERPRINT = 'fp_up_3e1b';

function fingerprinted(req: IncomingMessage, res: ServerResponse): void {
  const chat = req.url === CHAT;
  const base = { id: 'up', object: chat ? 'chat.completion.chunk' : 'text_completion', created: 0, model: MODEL };
  const chunk = (text: string, finish: string | null, role?: 'assistant') =>
    `data: ${JSON.stringify({
      ...base,
      system_fingerprint: FINGERPRINT,
      choices: [
        chat
          ? { index: 0, delta: { ...(role && { role }), content: text }, finish_reason: finish }
          : { index: 0, text, finish_reason: finish },
      ],
    })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const usage = { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 };
  const usageChunk = `data: ${JSON.stringify({ ...base, system_fingerprint: FINGERPRINT, choices: [], usage })}\n\n`;
  const opening = chat ? chunk('', null, 'assistant') : '';
  res.end(
    `${opening}${chunk(' Hello', null)}${chunk(' world', null)}${chunk('', 'stop')}${usageChunk}data: [DONE]\n\n`,
  );
}

describe('the openai engine: system_fingerprint', () => {
  it.each(['chat', 'completion'] as const)(
    "passes the upstream's system_fingerprint on (%s): on the whole body, and on every chunk of a stream",
    async (api) => {
      await withFakeUpstream(fingerprinted, async (fake) => {
        await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
          const client = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'test', maxRetries: 0 });
          const chat = { model: MODEL, messages: [{ role: 'user' as const, content: 'Hi' }] };
          const completion = { model: MODEL, prompt: 'Hi' };
          const whole =
            api === 'chat' ? await client.chat.completions.create(chat) : await client.completions.create(completion);
          expect(whole.system_fingerprint).toBe(FINGERPRINT);

          const options = { stream: true, stream_options: { include_usage: true } } as const;
          const chunks: Array<{ system_fingerprint?: string | null; choices: unknown[] }> = [];
          const stream =
            api === 'chat'
              ? await client.chat.completions.create({ ...chat, ...options })
              : await client.completions.create({ ...completion, ...options });
          for await (const chunk of stream) chunks.push(chunk);
          // The chat stream's opening chunk (the assistant's role) too, as OpenAI sends it.
          if (api === 'chat') {
            const [opening] = chunks as Array<{ choices: Array<{ delta: { role?: string } }> }>;
            expect(opening!.choices[0]!.delta.role).toBe('assistant');
          }
          expect(chunks.length).toBeGreaterThan(3);
          expect(chunks.map((chunk) => chunk.system_fingerprint)).toEqual(chunks.map(() => FINGERPRINT));
        });
      });
    },
  );
});
