import { describe, expect, it } from 'vitest';
import { addSpanRecorder } from '@threadline/tracing';
import type { FinishedSpan } from '@threadline/tracing';
import { createStore, runInStore, startSpan, storeWithSpan } from '@threadline/tracing/internal';
import { ADMITTED } from '../protocol/admission.js';
import type { GenerateOutput, GenerateRequest, RouteRequest, WorkerOutput } from '../protocol/pipeline.types.js';
import { migratingGeneration } from './migrating-generation.js';
import type { MigrationOptions } from './migrating-generation.js';

/** An error as a call's failure arrives (an EndpointError's fields). */
function failure(code: string, status = 503): Error {
  return Object.assign(new Error(`failed: ${code}`), { code, status });
}

/** What a fake worker does with a request: the tokens it sends, then how it ends. */
interface Script {
  admit?: Error;
  tokens?: number[];
  /** How many of the first tokens are the model's reasoning. */
  reasoning?: number;
  finish?: 'stop' | 'length';
  fail?: Error;
}

/**
 * Fake Router and Workers: the Router hands out `workers` in order (skipping excluded ones) and each
 * worker plays its script; every call is recorded.
 */
function fakes(workers: Array<[string, Script]>) {
  const routes: RouteRequest[] = [];
  const generations: Array<{ workerId: string; request: GenerateRequest }> = [];
  const stopped: string[] = [];
  const scripts = new Map(workers);
  const calls = {
    route: (route: RouteRequest) => {
      routes.push(route);
      const next = workers.find(([id]) => !(route.exclude ?? []).includes(id) && scripts.has(id));
      if (next === undefined) return Promise.reject(failure('no_worker_available'));
      return Promise.resolve(next[0]);
    },
    generate: (request: GenerateRequest, workerId: string): AsyncIterable<WorkerOutput> => {
      generations.push({ workerId, request });
      const script = scripts.get(workerId)!;
      scripts.delete(workerId);
      return (async function* () {
        try {
          if (script.admit) throw script.admit;
          yield ADMITTED;
          const tokens = script.tokens ?? [];
          for (const [i, token] of tokens.entries()) {
            await Promise.resolve();
            const last = i === tokens.length - 1;
            const output: GenerateOutput = { tokenIds: [token] };
            if (i < (script.reasoning ?? 0)) output.reasoning = true;
            yield last && script.finish ? { ...output, finishReason: script.finish } : output;
          }
          if (script.fail) throw script.fail;
        } finally {
          stopped.push(workerId);
        }
      })();
    },
  };
  return { calls, routes, generations, stopped };
}

const REQUEST: GenerateRequest = {
  tokenIds: [1, 2, 3],
  blocks: { blockSize: 16, hashes: '' },
  maxTokens: 10,
  temperature: 0,
  seed: 7,
  original: { prompt: 'abc' },
};

function logger() {
  const warnings: Array<Record<string, unknown>> = [];
  return { warnings, logger: { warn: (line: unknown) => void warnings.push(line as Record<string, unknown>) } };
}

async function drain(stream: AsyncIterable<WorkerOutput>): Promise<WorkerOutput[]> {
  const items: WorkerOutput[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

function tokensOf(items: WorkerOutput[]): number[] {
  return items.flatMap((item) => ('tokenIds' in item ? item.tokenIds : []));
}

describe('migratingGeneration', () => {
  it('moves a stream whose worker is gone to another worker, carrying the tokens already produced', async () => {
    const { calls, routes, generations } = fakes([
      ['a', { tokens: [10, 11, 12], fail: failure('instance_gone') }],
      ['b', { tokens: [13, 14], finish: 'stop' }],
    ]);
    const { warnings, logger: log } = logger();
    const items = await drain(migratingGeneration(REQUEST, calls, { limit: 3, logger: log }));

    expect(items.filter((item) => 'admitted' in item)).toHaveLength(1);
    expect(items[0]).toBe(ADMITTED);
    expect(tokensOf(items)).toEqual([10, 11, 12, 13, 14]);
    expect((items.at(-1) as GenerateOutput).finishReason).toBe('stop');
    expect(routes).toEqual([
      { tokenIds: [1, 2, 3], blocks: REQUEST.blocks },
      { tokenIds: [1, 2, 3, 10, 11, 12], exclude: ['a'] },
    ]);
    expect(generations[1]).toEqual({
      workerId: 'b',
      request: {
        tokenIds: [1, 2, 3, 10, 11, 12],
        maxTokens: 7,
        temperature: 0,
        seed: 7,
        original: { prompt: 'abc' },
        continuation: { promptTokens: 3, generatedTokens: 3 },
      },
    });
    expect(warnings).toEqual([
      expect.objectContaining({ from: 'a', to: 'b', tokensCarried: 3, reason: 'instance_gone' }),
    ]);
  });

  it("tells the continuation which of the tokens carried are the model's reasoning", async () => {
    const { calls, generations } = fakes([
      ['a', { tokens: [10, 11, 12], reasoning: 2, fail: failure('instance_gone') }],
      ['b', { tokens: [13], finish: 'stop' }],
    ]);
    const items = await drain(migratingGeneration(REQUEST, calls, { limit: 3, logger: logger().logger }));
    expect(tokensOf(items)).toEqual([10, 11, 12, 13]);
    expect(generations[1]!.request).toMatchObject({
      tokenIds: [1, 2, 3, 10, 11, 12],
      maxTokens: 7,
      continuation: { promptTokens: 3, generatedTokens: 3, reasoningTokens: 2 },
    });
  });

  it('retries elsewhere a request whose worker failed before admitting it, unchanged', async () => {
    const { calls, generations } = fakes([
      ['a', { admit: failure('no_instance_answered') }],
      ['b', { tokens: [10, 11], finish: 'length' }],
    ]);
    const { warnings, logger: log } = logger();
    const items = await drain(migratingGeneration(REQUEST, calls, { limit: 3, logger: log }));
    expect(tokensOf(items)).toEqual([10, 11]);
    expect(generations.map(({ workerId, request }) => [workerId, request])).toEqual([
      ['a', REQUEST],
      ['b', REQUEST],
    ]);
    expect(warnings).toEqual([expect.objectContaining({ from: 'a', to: 'b', tokensCarried: 0 })]);
  });

  it.each([
    ['a cancel', failure('cancelled', 499)],
    ['a deadline', failure('deadline_exceeded', 504)],
    ['a full queue', failure('rate_limit_exceeded', 429)],
    ['a bad request', failure('invalid_request_error', 400)],
    ['an engine failure', failure('internal_error', 500)],
  ])('does not move on %s', async (_, error) => {
    const { calls, generations } = fakes([
      ['a', { tokens: [10], fail: error }],
      ['b', { tokens: [11], finish: 'stop' }],
    ]);
    await expect(drain(migratingGeneration(REQUEST, calls, { limit: 3, logger: logger().logger }))).rejects.toBe(error);
    expect(generations.map(({ workerId }) => workerId)).toEqual(['a']);
  });

  it('does not move once the request is aborted, nor at all with a limit of 0', async () => {
    const aborted = AbortSignal.abort();
    for (const options of [{ limit: 3, signal: aborted }, { limit: 0 }] as Array<Partial<MigrationOptions>>) {
      const gone = failure('instance_gone');
      const { calls, generations } = fakes([
        ['a', { tokens: [10], fail: gone }],
        ['b', { tokens: [11], finish: 'stop' }],
      ]);
      const run = migratingGeneration(REQUEST, calls, { limit: 3, logger: logger().logger, ...options });
      await expect(drain(run)).rejects.toBe(gone);
      expect(generations).toHaveLength(1);
    }
  });

  it('throws the worker failure when no other worker can take the request, and stops at the limit', async () => {
    const gone = failure('instance_gone');
    const alone = fakes([['a', { tokens: [10], fail: gone }]]);
    const { warnings, logger: log } = logger();
    await expect(drain(migratingGeneration(REQUEST, alone.calls, { limit: 3, logger: log }))).rejects.toBe(gone);
    expect(warnings).toEqual([expect.objectContaining({ from: 'a', tokensCarried: 1 })]);

    const last = failure('instance_gone');
    const many = fakes([
      ['a', { tokens: [10], fail: failure('instance_gone') }],
      ['b', { tokens: [11], fail: failure('instance_shutting_down') }],
      ['c', { tokens: [12], fail: last }],
      ['d', { tokens: [13], finish: 'stop' }],
    ]);
    await expect(drain(migratingGeneration(REQUEST, many.calls, { limit: 2, logger: log }))).rejects.toBe(last);
    expect(many.generations.map(({ workerId }) => workerId)).toEqual(['a', 'b', 'c']);
    expect(many.generations[2]!.request).toMatchObject({
      maxTokens: 8,
      continuation: { promptTokens: 3, generatedTokens: 2 },
    });
  });

  it('ends with `length` when the worker was lost after the last token asked for, without moving', async () => {
    const { calls, generations } = fakes([
      ['a', { tokens: [10, 11], fail: failure('instance_gone') }],
      ['b', { tokens: [12], finish: 'stop' }],
    ]);
    const items = await drain(
      migratingGeneration({ ...REQUEST, maxTokens: 2 }, calls, { limit: 3, logger: logger().logger }),
    );
    expect(tokensOf(items)).toEqual([10, 11]);
    expect((items.at(-1) as GenerateOutput).finishReason).toBe('length');
    expect(generations).toHaveLength(1);
  });

  it('a failure after the last token is not worth a move; a consumer that stops stops the worker', async () => {
    const finished = fakes([
      ['a', { tokens: [10, 11], finish: 'stop', fail: failure('instance_gone') }],
      ['b', { tokens: [12], finish: 'stop' }],
    ]);
    const items = await drain(migratingGeneration(REQUEST, finished.calls, { limit: 3, logger: logger().logger }));
    expect(tokensOf(items)).toEqual([10, 11]);
    expect(finished.generations).toHaveLength(1);

    const early = fakes([['a', { tokens: [10, 11, 12, 13], finish: 'stop' }]]);
    const stream = migratingGeneration(REQUEST, early.calls, { limit: 3, logger: logger().logger });
    await stream.next();
    await stream.next();
    await stream.return(undefined);
    expect(early.stopped).toEqual(['a']);
  });

  it("records each move as an event of the current span (the Processor's), with a count", async () => {
    const spans: FinishedSpan[] = [];
    const remove = addSpanRecorder({ onEnd: (span) => spans.push(span) });
    try {
      const root = createStore('req-migrate');
      const span = startSpan('processor.generate', 'server', undefined, root)!;
      const { calls } = fakes([
        ['a', { tokens: [10, 11], fail: failure('instance_gone') }],
        ['b', { tokens: [12], fail: failure('instance_shutting_down') }],
        ['c', { tokens: [13], finish: 'stop' }],
      ]);
      const stream = migratingGeneration(REQUEST, calls, { limit: 3, logger: logger().logger });
      await runInStore(storeWithSpan(root, span), () => stream.next());
      await drain({ [Symbol.asyncIterator]: () => stream });
      span.end();
    } finally {
      remove();
    }
    expect(spans[0]!.attributes['threadline.migrations']).toBe(2);
    expect(spans[0]!.events.map(({ name, attributes }) => [name, attributes])).toEqual([
      [
        'threadline.migration',
        {
          'threadline.migration.from': 'a',
          'threadline.migration.to': 'b',
          'threadline.migration.tokens_carried': 2,
          'threadline.migration.reason': 'instance_gone',
        },
      ],
      [
        'threadline.migration',
        {
          'threadline.migration.from': 'b',
          'threadline.migration.to': 'c',
          'threadline.migration.tokens_carried': 3,
          'threadline.migration.reason': 'instance_shutting_down',
        },
      ],
    ]);
  });
});
