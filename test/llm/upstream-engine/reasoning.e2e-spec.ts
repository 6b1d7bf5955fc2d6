import type { IncomingMessage, ServerResponse } from 'node:http';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { withFakeUpstream } from '../../support/fake-upstream.js';
import { CHAT, COMPLETIONS, MODEL, send } from '../../support/requests.js';
import { serviceEvents } from '../../support/sse.js';
import { withEngine } from '../../support/upstream-engine.js';

/**
 * A reasoning model behind vLLM streams its reasoning apart from its answer (`delta.reasoning_content`, or
 * `delta.reasoning` in newer versions) and counts it in `usage.completion_tokens_details.reasoning_tokens`:
 * the `openai` engine passes both on.
 */

const REASONING = 'The user wants the weather. Paris is in France.';
const ANSWER = 'It is sunny in Paris.';
const USAGE = {
  prompt_tokens: 12,
  completion_tokens: 20,
  total_tokens: 32,
  completion_tokens_details: { reasoning_tokens: 11 },
};

/** A vLLM-like upstream: reasoning in `field`, then the answer, its finish reason, then its usage. */
function reasoningUpstream(field: 'reasoning_content' | 'reasoning', usage: object = USAGE) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const chat = req.url === CHAT;
    const object = chat ? 'chat.completion.chunk' : 'text_completion';
    const send = (choices: object[], extra: object = {}) =>
      res.write(`data: ${JSON.stringify({ id: 'up', object, created: 0, model: MODEL, choices, ...extra })}\n\n`);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    if (chat) {
      send([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
      for (const piece of ['The user wants the weather.', ' Paris is in France.'])
        send([{ index: 0, delta: { [field]: piece }, finish_reason: null }]);
      send([{ index: 0, delta: { content: ANSWER }, finish_reason: null }]);
      send([{ index: 0, delta: {}, finish_reason: 'stop' }]);
    } else {
      send([{ index: 0, text: ANSWER, finish_reason: 'stop' }]);
    }
    send([], { usage });
    res.end('data: [DONE]\n\n');
  };
}

describe('the openai engine: a reasoning model', () => {
  it.each(['reasoning_content', 'reasoning'] as const)(
    "passes the upstream's reasoning (%s) on as chat's reasoning_content, streamed and not, and its reasoning_tokens",
    async (field) => {
      await withFakeUpstream(reasoningUpstream(field), async (fake) => {
        await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
          const body = { model: MODEL, messages: [{ role: 'user', content: 'Weather in Paris?' }] };
          const whole = await send(b.url, CHAT, body);
          expect(whole.status, whole.text).toBe(200);
          const json = JSON.parse(whole.text) as {
            choices: Array<{ message: { content: string; reasoning_content?: string } }>;
            usage: typeof USAGE;
          };
          expect(json.choices[0]!.message).toMatchObject({ content: ANSWER, reasoning_content: REASONING });
          expect(json.usage.completion_tokens_details).toEqual({ reasoning_tokens: 11 });

          const streamed = await send(b.url, CHAT, { ...body, stream: true, stream_options: { include_usage: true } });
          const chunks = serviceEvents(streamed.text)
            .slice(0, -1)
            .map(
              (event) =>
                JSON.parse(event) as {
                  choices: Array<{ delta: { content?: string; reasoning_content?: string } }>;
                  usage?: typeof USAGE;
                },
            );
          const deltas = chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.delta));
          expect(deltas.map((delta) => delta.reasoning_content ?? '').join('')).toBe(REASONING);
          expect(deltas.map((delta) => delta.content ?? '').join('')).toBe(ANSWER);
          expect(chunks.at(-1)!.usage!.completion_tokens_details).toEqual({ reasoning_tokens: 11 });
        });
      });
    },
  );

  it('gives the reasoning as a reasoning item of the Responses API, streamed and not, apart from the answer', async () => {
    await withFakeUpstream(reasoningUpstream('reasoning_content'), async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const client = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'test', maxRetries: 0 });
        const body = { model: MODEL, input: 'Weather in Paris?' };
        const id = (prefix: string, response: { id: string }) => response.id.replace(/^resp_/, `${prefix}_`);
        const expected = (response: { id: string }) => [
          {
            id: id('rs', response),
            type: 'reasoning',
            summary: [],
            content: [{ type: 'reasoning_text', text: REASONING }],
            status: 'completed',
          },
          {
            id: `${id('msg', response)}_1`,
            type: 'message',
            role: 'assistant',
            status: 'completed',
            content: [{ type: 'output_text', text: ANSWER, annotations: [], logprobs: [] }],
          },
        ];

        const response = await client.responses.create(body);
        expect(response.output).toEqual(expected(response));
        expect(response.output_text).toBe(ANSWER);
        expect(response.usage!.output_tokens_details.reasoning_tokens).toBe(11);

        const stream = client.responses.stream(body);
        const events: OpenAI.Responses.ResponseStreamEvent[] = [];
        for await (const event of stream) events.push(event);
        const streamed = await stream.finalResponse();
        // The stream helper adds `parsed` to the text part.
        expect(streamed.output).toMatchObject(expected(streamed));
        expect(streamed.output).toHaveLength(2);
        const deltas = (type: string) =>
          events.flatMap((event) => (event.type === type && 'delta' in event ? [event.delta as string] : []));
        expect(deltas('response.reasoning_text.delta').join('')).toBe(REASONING);
        expect(deltas('response.output_text.delta').join('')).toBe(ANSWER);
        const reasoningEvents = events
          .filter((event) => 'item_id' in event && event.item_id === id('rs', streamed))
          .map((event) => event.type);
        expect([...new Set(reasoningEvents)]).toEqual([
          'response.content_part.added',
          'response.reasoning_text.delta',
          'response.reasoning_text.done',
          'response.content_part.done',
        ]);
        const done = events.find((event) => event.type === 'response.reasoning_text.done');
        expect(done).toMatchObject({ output_index: 0, content_index: 0, text: REASONING });

        // The output sent back as the next turn's input: the reasoning item is taken, not given to the model.
        const next = await client.responses.create({
          model: MODEL,
          input: [
            { role: 'user', content: 'Weather in Paris?' },
            ...(response.output as OpenAI.Responses.ResponseInputItem[]),
            { role: 'user', content: 'And tomorrow?' },
          ],
        });
        expect(next.output_text).toBe(ANSWER);
        expect((fake.received.at(-1)!.body as { messages: unknown[] }).messages).toEqual([
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: [{ type: 'text', text: ANSWER }] },
          { role: 'user', content: 'And tomorrow?' },
        ]);
      });
    });
  });

  it("keeps the completions usage's reasoning_tokens", async () => {
    await withFakeUpstream(reasoningUpstream('reasoning_content'), async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const reply = await send(b.url, COMPLETIONS, { model: MODEL, prompt: 'Weather in Paris?' });
        expect(reply.status, reply.text).toBe(200);
        const json = JSON.parse(reply.text) as { usage: typeof USAGE };
        expect(json.usage).toEqual({ ...USAGE, prompt_tokens_details: { cached_tokens: 0 } });
      });
    });
  });

  it('reports no reasoning_tokens when the upstream counts its completion without them', async () => {
    // The reasoning's tokens counted by the pipeline's tokenizer beside a completion counted by the
    // upstream's would be two counts that need not add up: neither is given.
    const { completion_tokens_details: _, ...withoutDetails } = USAGE;
    await withFakeUpstream(reasoningUpstream('reasoning_content', withoutDetails), async (fake) => {
      await withEngine({ UPSTREAM_URL: fake.url }, async (b) => {
        const body = { model: MODEL, messages: [{ role: 'user', content: 'Weather in Paris?' }] };
        const whole = await send(b.url, CHAT, body);
        expect(whole.status, whole.text).toBe(200);
        const json = JSON.parse(whole.text) as { choices: Array<{ message: object }>; usage: object };
        expect(json.choices[0]!.message).toMatchObject({ content: ANSWER, reasoning_content: REASONING });
        expect(json.usage).toEqual({ ...withoutDetails, prompt_tokens_details: { cached_tokens: 0 } });

        const streamed = await send(b.url, CHAT, { ...body, stream: true, stream_options: { include_usage: true } });
        const last = JSON.parse(serviceEvents(streamed.text).at(-2)!) as { usage?: object };
        expect(last.usage).toEqual({ ...withoutDetails, prompt_tokens_details: { cached_tokens: 0 } });
      });
    });
  });
});
