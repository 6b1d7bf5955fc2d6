import { Ajv2020 } from 'ajv/dist/2020.js';
import type { EndpointContext } from '@threadline/runtime';
import { describe, expect, it } from 'vitest';
import { loadLlmConfig } from '../llm.config.js';
import { isAdmitted } from '../protocol/admission.js';
import type {
  GenerateRequest,
  ProcessorEvent,
  RouteDecision,
  RouteRequest,
  WorkerOutput,
} from '../protocol/pipeline.types.js';
import { MockerEngine } from '../worker/mocker/mocker.engine.js';
import { ProcessorComponent } from './processor.component.js';

/**
 * A Processor over real mockers whose workers die mid-stream, as over NATS when one is killed: the
 * client's events must be exactly those of an undisturbed run, whatever the answer's kind.
 */
const CONFIG = loadLlmConfig({
  THREADLINE_TOKENIZER_THREADS: '0',
  MOCKER_DECODE_MS_PER_TOKEN: '0',
  MOCKER_PREFILL_US_PER_TOKEN: '0',
});

/** A call's failure as the runtime reports a worker that stopped answering. */
function gone(): Error {
  return Object.assign(new Error('The worker instance is gone.'), { code: 'instance_gone', status: 503 });
}

interface Run {
  events: ProcessorEvent[];
  /** The requests each worker received, in order. */
  requests: Array<{ workerId: string; request: GenerateRequest }>;
}

/**
 * Runs `body` through a Processor whose workers `w0`, `w1`… each die after sending `cuts[i]` tokens (of
 * any choice); the worker after the last cut never dies. Each worker is a fresh mocker, as on another
 * machine. With `sayCallAgain`, a continued tool call's first item names its call anew, as an engine
 * that starts the call over could.
 */
async function run(body: Record<string, unknown>, cuts: number[] = [], sayCallAgain = false): Promise<Run> {
  const ids = Array.from({ length: cuts.length + 1 }, (_, i) => `w${i}`);
  const engines = new Map(ids.map((id) => [id, new MockerEngine(CONFIG.mocker, id)]));
  const sent = new Map(ids.map((id) => [id, 0]));
  const requests: Run['requests'] = [];
  const router = {
    route: (route: RouteRequest) =>
      (async function* (): AsyncGenerator<RouteDecision> {
        await Promise.resolve();
        const workerId = ids.find((id) => !(route.exclude ?? []).includes(id) && sent.get(id)! >= 0);
        if (workerId === undefined) throw Object.assign(new Error('none left'), { code: 'no_worker_available' });
        yield { workerId, prefixHitRate: 0 };
      })(),
  };
  const worker = {
    generate: (request: GenerateRequest, { instance }: { instance: string }) =>
      (async function* (): AsyncGenerator<WorkerOutput> {
        requests.push({ workerId: instance, request });
        const index = ids.indexOf(instance);
        const limit = cuts[index] ?? Number.POSITIVE_INFINITY;
        const abort = new AbortController();
        let again = sayCallAgain && request.continuation !== undefined;
        try {
          for await (let item of engines.get(instance)!.generate(request, abort.signal)) {
            if (again && 'toolCall' in item && item.toolCall !== undefined) {
              item = { ...item, toolCall: { ...item.toolCall, id: 'call_again', name: 'get_weather' } };
              again = false;
            }
            if (sent.get(instance)! < 0) throw gone();
            if (!isAdmitted(item)) {
              if (sent.get(instance)! >= limit) {
                sent.set(instance, -1);
                throw gone();
              }
              sent.set(instance, sent.get(instance)! + item.tokenIds.length);
            }
            yield item;
          }
        } finally {
          abort.abort();
        }
      })(),
  };
  const processor = new ProcessorComponent(CONFIG, router as never, worker as never);
  processor.onComponentStart();
  try {
    const events: ProcessorEvent[] = [];
    const context = { signal: new AbortController().signal } as EndpointContext;
    for await (const event of processor.generate({ api: 'chat', body: { model: CONFIG.model, ...body } }, context))
      events.push(event);
    return { events, requests };
  } finally {
    await processor.onComponentStop();
  }
}

/** One choice's events, in order: what its client sees, whichever choice came first in between. */
function choiceEvents(events: ProcessorEvent[], choice: number): ProcessorEvent[] {
  return events.filter((event) => 'choice' in event && event.choice === choice);
}

const MESSAGES = [{ role: 'user', content: 'Where is the weather better this week, Lisbon or Porto?' }];

const WEATHER_SCHEMA = {
  type: 'object',
  properties: {
    city: { type: 'string', enum: ['Lisbon', 'Porto'] },
    days: { type: 'array', items: { type: 'object', properties: { t: { type: 'number' } }, required: ['t'] } },
    note: { type: 'string', minLength: 3 },
  },
  required: ['city', 'days', 'note'],
  additionalProperties: false,
};

const TOOLS = [
  { type: 'function', function: { name: 'get_weather', parameters: WEATHER_SCHEMA } },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
];

const BODIES: Record<string, Record<string, unknown>> = {
  text: { messages: MESSAGES, seed: 11, logprobs: true, top_logprobs: 3 },
  'json_schema with logprobs': {
    messages: MESSAGES,
    seed: 12,
    logprobs: true,
    top_logprobs: 1,
    response_format: { type: 'json_schema', json_schema: { name: 'weather', schema: WEATHER_SCHEMA } },
  },
  'a required tool call': {
    messages: MESSAGES,
    seed: 13,
    tools: TOOLS,
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
  },
  'three choices, tool calls and text (auto)': { messages: MESSAGES, seed: 5, n: 3, tools: TOOLS, logprobs: true },
};

const ajv = new Ajv2020({ strict: false });
const validWeather = ajv.compile(WEATHER_SCHEMA);

/** What a client assembles from one choice's events. */
function assembled(events: ProcessorEvent[]) {
  const text = events.flatMap((event) => (event.type === 'text' ? [event.text] : [])).join('');
  const logprobs = events.flatMap((event) => (event.type === 'text' ? (event.logprobs ?? []) : []));
  const calls = events.filter((event) => event.type === 'tool_call');
  return { text, logprobs, calls };
}

describe('a migrated choice, whatever its answer', () => {
  for (const [name, body] of Object.entries(BODIES)) {
    it(`gives the client the undisturbed events: ${name}`, async () => {
      const whole = await run(body);
      const usage = whole.events.at(-1);
      expect(usage?.type).toBe('usage');
      const tokens = (usage as Extract<ProcessorEvent, { type: 'usage' }>).completionTokens;
      const choices = (body.n as number | undefined) ?? 1;
      if (choices > 1) {
        // Both kinds of answer among the choices, for this seed.
        const reasons = whole.events.flatMap((event) => (event.type === 'finish' ? [event.reason] : []));
        expect(new Set(reasons)).toEqual(new Set(['stop', 'tool_calls']));
      }
      // Early, in the middle, at the very last token; and twice in one stream.
      for (const cuts of [[1], [2], [Math.floor(tokens / 2)], [tokens - 1], [3, 4]]) {
        const moved = await run(body, cuts);
        expect(moved.requests.some(({ request }) => request.continuation !== undefined)).toBe(true);
        expect(moved.requests.at(-1)!.workerId).toBe(`w${cuts.length}`);
        for (let choice = 0; choice < choices; choice++)
          expect(choiceEvents(moved.events, choice), `cut after ${cuts.join(', ')}`).toEqual(
            choiceEvents(whole.events, choice),
          );
        // Cached tokens depend on which worker held what: the counts do not.
        expect(moved.events.at(-1)).toEqual({ ...usage, cachedTokens: expect.any(Number) as number });
      }
    });
  }

  it('keeps one tool call: one id, the name once, arguments valid against the schema', async () => {
    const body = BODIES['a required tool call']!;
    const whole = await run(body);
    const tokens = (whole.events.at(-1) as Extract<ProcessorEvent, { type: 'usage' }>).completionTokens;
    for (let cut = 1; cut < tokens; cut += 3) {
      const { calls, text } = assembled(choiceEvents((await run(body, [cut])).events, 0));
      expect(text).toBe('');
      expect(calls.filter((call) => call.id !== undefined)).toHaveLength(1);
      expect(calls.filter((call) => call.name !== undefined).map((call) => call.name)).toEqual(['get_weather']);
      expect(new Set(calls.map((call) => call.index))).toEqual(new Set([0]));
      const args: unknown = JSON.parse(calls.map((call) => call.arguments).join(''));
      expect(validWeather(args), ajv.errorsText(validWeather.errors)).toBe(true);
      expect(choiceEvents((await run(body, [cut])).events, 0).at(-1)).toEqual({
        type: 'finish',
        choice: 0,
        reason: 'tool_calls',
      });
    }
  });

  it('sends a call’s id and name once, even when the continuing engine says them again', async () => {
    const body = BODIES['a required tool call']!;
    const whole = await run(body);
    for (const cut of [1, 5, 20]) expect((await run(body, [cut], true)).events).toEqual(whole.events);
  });

  it('keeps the JSON text valid and every token’s logprob exactly once', async () => {
    const body = BODIES['json_schema with logprobs']!;
    const whole = await run(body);
    const tokens = (whole.events.at(-1) as Extract<ProcessorEvent, { type: 'usage' }>).completionTokens;
    for (let cut = 1; cut < tokens; cut += 4) {
      const { text, logprobs } = assembled(choiceEvents((await run(body, [cut])).events, 0));
      expect(validWeather(JSON.parse(text))).toBe(true);
      expect(logprobs).toHaveLength(tokens);
      expect(Buffer.concat(logprobs.map((entry) => Buffer.from(entry.bytes))).toString('utf8')).toBe(text);
    }
  });
});
