import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { withFakeUpstream } from '../../support/fake-upstream.js';
import { CHAT, COMPLETIONS, MODEL, pathOf, send } from '../../support/requests.js';
import { serviceEvents } from '../../support/sse.js';
import { withEngine } from '../../support/upstream-engine.js';

/** The upstream's `system_fingerprint` (which backend configuration answered) reaches the client. */

const FINGERPRINT = 'fp_up_3e1b';

function fingerprinted(req: IncomingMessage, res: ServerResponse): void {
  const chat = req.url === CHAT;
  const base = { id: 'up', object: chat ? 'chat.completion.chunk' : 'text_completion', created: 0, model: MODEL };
  const chunk = (text: string, finish: string | null) =>
    `data: ${JSON.stringify({
      ...base,
      system_fingerprint: FINGERPRINT,
      choices: [
        chat
          ? { index: 0, delta: { content: text }, finish_reason: finish }
          : { index: 0, text, finish_reason: finish },
      ],
    })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(`${chunk(' Hello', null)}${chunk(' world', null)}${chunk('', 'stop')}data: [DONE]\n\n`);
}

describe('the openai engine: system_fingerprint', () => {
  it.each(['chat', 'completion'] as const)(
    "passes the upstream's system_fingerprint on (%s): on the whole body, and on the chunks from the first token",
    async (api) => {
      await withFakeUpstream(fingerprinted, async (fake) => {
        await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
          const body =
            api === 'chat'
              ? { model: MODEL, messages: [{ role: 'user', content: 'Hi' }] }
              : { model: MODEL, prompt: 'Hi' };
          const whole = await send(b.url, pathOf(api), body);
          expect(whole.status, whole.text).toBe(200);
          expect((JSON.parse(whole.text) as { system_fingerprint?: string }).system_fingerprint).toBe(FINGERPRINT);

          const streamed = await send(b.url, api === 'chat' ? CHAT : COMPLETIONS, { ...body, stream: true });
          const chunks = serviceEvents(streamed.text)
            .slice(0, -1)
            .map(
              (event) =>
                JSON.parse(event) as {
                  system_fingerprint?: string;
                  choices: Array<{ text?: string; delta?: { content?: string } }>;
                },
            );
          const withText = chunks.filter((chunk) =>
            chunk.choices.some((choice) => (choice.text ?? choice.delta?.content ?? '') !== ''),
          );
          expect(withText.length).toBeGreaterThan(0);
          for (const chunk of withText) expect(chunk.system_fingerprint).toBe(FINGERPRINT);
          expect(chunks.at(-1)!.system_fingerprint).toBe(FINGERPRINT);
        });
      });
    },
  );
});
