import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { handling, nats, splitPipeline, startCluster, warmUp } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { describeWithNats } from '../../support/nats-server.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { CHAT, MODEL, send } from '../../support/requests.js';
import { serviceChunks, sseJson } from '../../support/sse.js';

/**
 * Tools, structured output and logprobs in distributed mode (frontend | processor,router | worker |
 * worker, round-robin): tool calls, JSON answers and logprobs cross the Processor/Worker hop over a
 * real nats-server, and every answer is the very one the service gives in one process for the same
 * request and seed (an in-process pipeline in this file is the reference), streamed or not, through
 * chat and `/v1/responses`. Needs `nats-server` (PATH, /usr/sbin, or NATS_SERVER_BIN): without it the
 * suite is skipped with the reason, or fails when THREADLINE_REQUIRE_NATS=1 (as in CI).
 */

const ajv = new Ajv2020({ strict: false, validateFormats: false });
ajv.addMetaSchema(createRequire(import.meta.url)('ajv/dist/refs/json-schema-draft-07.json') as object);

const FORECAST = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 1 },
    unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
    days: {
      type: 'array',
      minItems: 2,
      maxItems: 5,
      items: {
        type: 'object',
        properties: { high: { type: 'number' }, low: { type: 'number' }, sky: { type: 'string' } },
        required: ['high', 'low', 'sky'],
        additionalProperties: false,
      },
    },
  },
  required: ['city', 'unit', 'days'],
  additionalProperties: false,
};
const TIME = {
  type: 'object',
  properties: { zone: { type: 'string', pattern: '^[A-Z][a-z]+/[A-Z][a-z]+$' } },
  required: ['zone'],
};
const TOOLS = [
  { type: 'function', function: { name: 'get_forecast', description: 'The forecast', parameters: FORECAST } },
  { type: 'function', function: { name: 'get_time', parameters: TIME } },
];
const SCHEMAS: Record<string, object> = { get_forecast: FORECAST, get_time: TIME };
const MESSAGES = [{ role: 'user', content: 'Will it rain in Lisbon this week, and what time is it there?' }];

/** A reply without what differs between two servers for the same answer: times, and what their caches held. */
function comparable(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, field: unknown) =>
    key === 'created' || key === 'created_at' || key === 'completed_at' || key === 'cached_tokens' ? undefined : field,
  );
}

/** A chat stream's chunks, choice 0's first, then choice 1's…, then those of no choice (usage). */
function byChoice(chunks: Chunk[]): Chunk[] {
  const indexOf = (chunk: Chunk) => chunk.choices[0]?.index ?? Number.POSITIVE_INFINITY;
  return [...chunks].sort((a, b) => indexOf(a) - indexOf(b));
}

function expectValid(schema: object, text: string): void {
  const validate = ajv.compile(schema);
  expect(validate(JSON.parse(text)), `${text}: ${ajv.errorsText(validate.errors)}`).toBe(true);
}

interface ToolCallDelta {
  index: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}
interface LogprobEntry {
  token: string;
  bytes: number[];
  logprob: number;
  top_logprobs: Array<{ token: string; logprob: number }>;
}
interface Chunk {
  choices: Array<{
    index: number;
    delta: { content?: string | null; tool_calls?: ToolCallDelta[] };
    logprobs?: { content: LogprobEntry[] | null } | null;
    finish_reason: string | null;
  }>;
}
interface Completion {
  choices: Array<{
    message: {
      content: string | null;
      tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>;
    };
    logprobs: { content: LogprobEntry[] | null } | null;
    finish_reason: string;
  }>;
}

describeWithNats(
  'distributed over NATS: tools, structured output and logprobs (frontend | processor,router | 2 workers)',
  () => {
    let cluster: Cluster;
    let local: PipelineApp;
    const workerNames = ['worker-a', 'worker-b'];

    beforeAll(async () => {
      const server = await nats();
      const common = { MOCKER_DECODE_MS_PER_TOKEN: '0', THREADLINE_ROUTER: 'round-robin' };
      [cluster, local] = await Promise.all([
        startCluster(server, splitPipeline(workerNames), common),
        startPipeline(common),
      ]);
      await warmUp(cluster, workerNames);
    }, 120_000);
    afterAll(async () => {
      await Promise.all([cluster?.stop(), local?.close()]);
    }, 30_000);

    /** The same request, with the same id, to the cluster and to the one-process service: both replies, parsed. */
    async function both<T>(path: string, body: object, id: string): Promise<[T, T]> {
      const replies = await Promise.all(
        [cluster.url, local.url].map(async (url) => {
          const res = await send(url, path, body, { id });
          expect(res.status, res.text).toBe(200);
          if ((body as { stream?: boolean }).stream !== true) return JSON.parse(res.text) as T;
          // Chat's stream ends with `[DONE]`; the Responses API's events name their type.
          return (path === CHAT ? serviceChunks(res.text) : sseJson(res.text)) as T;
        }),
      );
      if (path === CHAT && (body as { stream?: boolean }).stream === true) {
        // Each choice's chunks in order: how the choices of `n` interleave is a matter of timing.
        expect(comparable(byChoice(replies[0] as Chunk[]))).toEqual(comparable(byChoice(replies[1] as Chunk[])));
      } else expect(comparable(replies[0])).toEqual(comparable(replies[1]));
      return replies as [T, T];
    }

    it('a required tool call, whole and streamed: one call, arguments valid for its tool, as in one process', async () => {
      const ids: string[] = [];
      for (const seed of [1, 2, 3, 4, 5, 6]) {
        const body = { model: MODEL, messages: MESSAGES, tools: TOOLS, tool_choice: 'required', seed };
        const id = `nats-tool-${seed}`;
        const [whole] = await both<Completion>(CHAT, body, id);
        const choice = whole.choices[0]!;
        expect(choice.finish_reason).toBe('tool_calls');
        expect(choice.message.content).toBeNull();
        expect(choice.message.tool_calls).toHaveLength(1);
        const call = choice.message.tool_calls![0]!;
        expect(call.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
        expectValid(SCHEMAS[call.function.name]!, call.function.arguments);

        const [chunks] = await both<Chunk[]>(CHAT, { ...body, stream: true }, `${id}-stream`);
        const deltas = chunks.flatMap((chunk) => chunk.choices.flatMap((c) => c.delta.tool_calls ?? []));
        expect(deltas[0]).toMatchObject({
          index: 0,
          id: call.id,
          type: 'function',
          function: { name: call.function.name },
        });
        expect(deltas.slice(1).every((delta) => delta.id === undefined && delta.function?.name === undefined)).toBe(
          true,
        );
        expect(deltas.map((delta) => delta.function?.arguments ?? '').join('')).toBe(call.function.arguments);
        expect(chunks.flatMap((chunk) => chunk.choices.map((c) => c.finish_reason)).filter(Boolean)).toEqual([
          'tool_calls',
        ]);
        ids.push(id, `${id}-stream`);
      }
      // Round-robin: both worker processes made some of the calls.
      for (const name of workerNames)
        expect(
          ids.some((id) => handling(cluster.get(name), id, 'worker.generate').length > 0),
          name,
        ).toBe(true);
    });

    it('json_schema output, whole and streamed: valid by ajv, with logprobs, as in one process', async () => {
      for (const seed of [1, 2, 3]) {
        const body = {
          model: MODEL,
          messages: MESSAGES,
          seed,
          logprobs: true,
          top_logprobs: 1,
          response_format: { type: 'json_schema', json_schema: { name: 'forecast', schema: FORECAST, strict: true } },
        };
        const [whole] = await both<Completion>(CHAT, body, `nats-json-${seed}`);
        const content = whole.choices[0]!.message.content!;
        expectValid(FORECAST, content);
        const entries = whole.choices[0]!.logprobs!.content!;
        expect(Buffer.concat(entries.map((entry) => Buffer.from(entry.bytes))).toString('utf8')).toBe(content);

        const [chunks] = await both<Chunk[]>(CHAT, { ...body, stream: true }, `nats-json-${seed}-stream`);
        expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe(content);
        expect(chunks.flatMap((chunk) => chunk.choices[0]?.logprobs?.content ?? [])).toEqual(entries);
      }
    });

    it('logprobs of text: one entry per token, joined they are the content, alternatives in order, as in one process', async () => {
      const body = { model: MODEL, messages: MESSAGES, seed: 9, logprobs: true, top_logprobs: 3, n: 2 };
      const [whole] = await both<Completion>(CHAT, body, 'nats-logprobs');
      for (const choice of whole.choices) {
        const entries = choice.logprobs!.content!;
        expect(entries.map((entry) => entry.token).join('')).toBe(choice.message.content);
        for (const entry of entries) {
          expect(entry.top_logprobs).toHaveLength(entry.logprob === 0 ? 1 : 3);
          expect(entry.top_logprobs.map((top) => top.logprob)).toEqual(
            [...entry.top_logprobs.map((top) => top.logprob)].sort((a, b) => b - a),
          );
          expect(entry.logprob).toBeLessThanOrEqual(entry.top_logprobs[0]!.logprob);
        }
      }
      const [chunks] = await both<Chunk[]>(CHAT, { ...body, stream: true }, 'nats-logprobs-stream');
      for (const [index, choice] of whole.choices.entries()) {
        const mine = chunks.flatMap((chunk) => chunk.choices.filter((c) => c.index === index));
        expect(mine.flatMap((c) => c.logprobs?.content ?? [])).toEqual(choice.logprobs!.content);
      }
    });

    it('/v1/responses with a function tool, whole and streamed: a function_call item, as in one process', async () => {
      const body = {
        model: MODEL,
        input: MESSAGES[0]!.content,
        tools: [{ type: 'function', name: 'get_forecast', parameters: FORECAST, strict: true }],
        tool_choice: 'required',
      };
      const [whole] = await both<{
        output: Array<{ type: string; name?: string; arguments?: string; call_id?: string }>;
      }>('/v1/responses', body, 'nats-resp-tool');
      const calls = whole.output.filter((item) => item.type === 'function_call');
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({ name: 'get_forecast', call_id: expect.stringMatching(/^call_/) as string });
      expectValid(FORECAST, calls[0]!.arguments!);
      const [events] = await both<Array<{ type: string; delta?: string; arguments?: string }>>(
        '/v1/responses',
        { ...body, stream: true },
        'nats-resp-tool-stream',
      );
      const deltas = events.filter((event) => event.type === 'response.function_call_arguments.delta');
      expect(deltas.map((event) => event.delta).join('')).toBe(calls[0]!.arguments);
      expect(events.at(-1)?.type).toBe('response.completed');
    });
  },
);
