import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  forRequest,
  handling,
  natsEnv,
  NO_HANG_MS,
  READY_MS,
  spawnTracked,
  startSplitPipeline,
  warmUp,
  within,
} from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { expectUndisturbedStream, longSeed, undisturbed } from '../../support/mocker-text.js';
import { describeWithNats } from '../../support/nats-server.js';
import { untilServing } from '../../support/service-process.js';
import type { ComponentProcess, SpawnedService } from '../../support/service-process.js';
import { CHAT, COMPLETIONS, chatBody, completionBody, request, send } from '../../support/requests.js';
import { errorEvents, openStream, serviceChunks } from '../../support/sse.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Distributed mode, request migration (frontend | processor,router | worker-a | worker-b, round-robin):
 * `kill -9` of a worker under 50 concurrent streams loses none of them: each goes on on the other
 * worker, as one stream with exactly the undisturbed answer (streams asking for a tool call too: one
 * call, its arguments whole and valid); requests sent to the dead worker before
 * anyone knew are served elsewhere. Then, with THREADLINE_MIGRATION_LIMIT=0 (a new processor process,
 * a new worker), the old behaviour: the stream of the killed worker ends with an `instance_gone` event.
 */

const STREAMS = 50;
/** Every other stream stops at max_tokens, the others at their natural end (100 tokens or more). */
const MAX_TOKENS = 60;

/** Streams that ask for a tool call, whose arguments (a forecast of eight days) take a few seconds to stream. */
const TOOL_STREAMS = 8;
const FORECAST = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 1 },
    days: {
      type: 'array',
      minItems: 8,
      maxItems: 8,
      items: {
        type: 'object',
        properties: { high: { type: 'number' }, low: { type: 'number' }, sky: { type: 'string' } },
        required: ['high', 'low', 'sky'],
        additionalProperties: false,
      },
    },
  },
  required: ['city', 'days'],
  additionalProperties: false,
};
const validForecast = new Ajv2020({ strict: false }).compile(FORECAST);

function toolBody(i: number): Record<string, unknown> {
  return chatBody(`the forecast for city number ${i}`, {
    tools: [{ type: 'function', function: { name: 'get_forecast', parameters: FORECAST } }],
    tool_choice: 'required',
    seed: i,
  });
}

interface ToolChunk {
  id: string;
  choices: Array<{
    delta: { tool_calls?: Array<{ index: number; id?: string; function?: { name?: string; arguments?: string } }> };
    finish_reason: string | null;
  }>;
}
interface ToolCompletion {
  choices: Array<{ message: { tool_calls: Array<{ id: string; function: { name: string; arguments: string } }> } }>;
}

const isWarn = (line: { level: number }) => line.level === 40;
const migratedLines = (proc: SpawnedService, id: string) =>
  forRequest(proc, id).filter((line) => isWarn(line) && String(line.msg).startsWith('request migrated from '));

describeWithNats('distributed over NATS: request migration when a worker dies mid-stream', () => {
  let cluster: Cluster;
  const workerNames = ['worker-a', 'worker-b'];
  const worker = { THREADLINE_WORKERS: '1', MOCKER_MAX_RUNNING: '64' };
  const common = { MOCKER_DECODE_MS_PER_TOKEN: '40', THREADLINE_ROUTER: 'round-robin' };

  beforeAll(async () => {
    cluster = await startSplitPipeline(workerNames, { worker, common });
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it('kill -9 of a worker under 50 streams: 50/50 complete with their undisturbed text, moved to the other worker', async () => {
    const streams = await Promise.all(
      Array.from({ length: STREAMS }, async (_, i) => {
        const id = `migrate-${i}`;
        const prompt = `a story to carry over to another worker, number ${i}`;
        const { seed } = longSeed(prompt, 100);
        const maxTokens = i % 2 === 0 ? MAX_TOKENS : 1000;
        const body = completionBody(prompt, {
          max_tokens: maxTokens,
          stream: true,
          seed,
          stream_options: { include_usage: true },
        });
        const reader = await openStream(cluster.url, COMPLETIONS, body, id, 60_000);
        return { id, expected: undisturbed(prompt, seed, maxTokens), reader };
      }),
    );
    // Streams asking for a tool call: the worker dies in the middle of its arguments.
    const toolStreams = await Promise.all(
      Array.from({ length: TOOL_STREAMS }, async (_, i) => {
        const id = `migrate-tool-${i}`;
        const body = toolBody(i);
        return { id, body, reader: await openStream(cluster.url, CHAT, { ...body, stream: true }, id, 60_000) };
      }),
    );
    await Promise.all(
      [...streams, ...toolStreams].map(({ reader }) => reader.until((r) => r.dataCount >= 4, 20_000, '4 data events')),
    );
    const [victim, survivor] = workerNames.map((name) => cluster.get(name));
    const onVictim = streams
      .filter(({ id }) => handling(victim!, id, 'worker.generate').length > 0)
      .map(({ id }) => id);
    expect(onVictim.length, 'streams on the worker to kill').toBeGreaterThan(5);
    const toolsOnVictim = toolStreams.filter(({ id }) => handling(victim!, id, 'worker.generate').length > 0);
    expect(toolsOnVictim.length, 'tool-call streams on the worker to kill').toBeGreaterThan(0);
    victim!.signal('SIGKILL');

    // Sent before anyone can know the worker is gone: round-robin routes some of them to it.
    const late = Array.from({ length: 6 }, (_, i) =>
      request(cluster.url, CHAT, chatBody(`a request just after the kill, ${i}`, { max_tokens: 4 }), {
        id: `after-kill-${i}`,
        signal: AbortSignal.timeout(30_000),
      }).then(async (res) => ({ status: res.status, text: await res.text() })),
    );

    for (const { id, expected, reader } of streams) {
      expectUndisturbedStream(await reader.toEnd(30_000), id, expected);
    }

    // One warn per moved stream, naming the workers and the tokens carried; the survivor says it continued.
    const processor = cluster.get('processor-router');
    for (const id of onVictim) {
      const lines = migratedLines(processor, id);
      expect(lines, id).toHaveLength(1);
      expect(lines[0]).toMatchObject({ from: victim!.instanceIds[0], to: survivor!.instanceIds[0] });
      const carried = lines[0]!.tokensCarried as number;
      expect(carried, id).toBeGreaterThanOrEqual(4);
      await waitFor(
        () =>
          forRequest(survivor!, id).some(
            (line) => line.msg === `continuing a migrated generation after ${carried} tokens`,
          ) || undefined,
        5000,
      );
    }
    for (const { id } of streams.filter(({ id }) => !onVictim.includes(id)))
      expect(migratedLines(processor, id), id).toEqual([]);

    // Each tool-call stream: one call, named once, whose arguments are those of an undisturbed run, valid JSON.
    const undisturbedCalls = await Promise.all(
      toolStreams.map(async ({ id, body }) => {
        const res = await send(cluster.url, CHAT, body, { id: `${id}-again`, signal: AbortSignal.timeout(30_000) });
        expect(res.status, res.text).toBe(200);
        return (JSON.parse(res.text) as ToolCompletion).choices[0]!.message.tool_calls[0]!;
      }),
    );
    for (const [i, { id, reader }] of toolStreams.entries()) {
      const call = undisturbedCalls[i]!;
      const text = await reader.toEnd(30_000);
      expect(errorEvents(text), `${id}: ${text.slice(-300)}`).toEqual([]);
      const chunks = serviceChunks<ToolChunk>(text);
      expect(new Set(chunks.map((chunk) => chunk.id))).toEqual(new Set([`chatcmpl-${id}`]));
      const deltas = chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.delta.tool_calls ?? []));
      expect(
        deltas.filter((delta) => delta.id !== undefined).map((delta) => delta.id),
        id,
      ).toEqual([call.id]);
      expect(deltas.filter((delta) => delta.function?.name !== undefined).map((delta) => delta.function!.name)).toEqual(
        ['get_forecast'],
      );
      const args = deltas.map((delta) => delta.function?.arguments ?? '').join('');
      expect(args, id).toBe(call.function.arguments);
      expect(validForecast(JSON.parse(args)), id).toBe(true);
      expect(chunks.flatMap((chunk) => chunk.choices.map((choice) => choice.finish_reason)).filter(Boolean)).toEqual([
        'tool_calls',
      ]);
    }
    // Moved mid-arguments: the 4 data events waited for before the kill are the opening chunk and at least 3 tokens.
    for (const { id } of toolsOnVictim)
      expect(migratedLines(processor, id)[0]?.tokensCarried, id).toBeGreaterThanOrEqual(3);

    const answers = await within(Promise.all(late), 30_000, 'the requests sent just after the kill');
    for (const answer of answers) expect(answer.status, answer.text).toBe(200);
    const retried = answers
      .map((_, i) => `after-kill-${i}`)
      .filter((id) => migratedLines(processor, id).some((line) => line.tokensCarried === 0));
    expect(retried.length, 'requests routed to the dead worker and retried').toBeGreaterThan(0);
    // Those failed as soon as the registry dropped the dead worker (`instance_gone`), not when their
    // start timeout ran out (`no_instance_answered`).
    for (const id of retried) {
      const reasons = migratedLines(processor, id).map((line) => line.reason);
      expect(reasons, id).toContain('instance_gone');
      expect(reasons, id).not.toContain('no_instance_answered');
    }
  }, 90_000);

  it('THREADLINE_MIGRATION_LIMIT=0: the stream of a killed worker ends with an instance_gone error event', async () => {
    const spawn = async (name: string, env: NodeJS.ProcessEnv): Promise<ComponentProcess> => {
      const full = natsEnv(cluster.nats, { ...common, ...env });
      const proc = await untilServing(spawnTracked(name, full), full, READY_MS);
      cluster.procs.set(name, proc);
      return proc;
    };
    const [workerC, processor] = await Promise.all([
      spawn('worker-c', { THREADLINE_COMPONENTS: 'worker', ...worker }),
      spawn('processor-router-0', { THREADLINE_COMPONENTS: 'processor,router', THREADLINE_MIGRATION_LIMIT: '0' }),
    ]);
    await cluster.get('processor-router').stop(5000);
    const workers = [cluster.get('worker-b'), workerC];
    await warmUp(cluster, ['worker-b', 'worker-c']);

    const prompt = 'a story that will not be carried over';
    const { seed } = longSeed(prompt, 100);
    const ids = ['no-migration-0', 'no-migration-1', 'no-migration-2', 'no-migration-3'];
    const readers = await Promise.all(
      ids.map((id) =>
        openStream(
          cluster.url,
          COMPLETIONS,
          completionBody(prompt, { max_tokens: 1000, stream: true, seed }),
          id,
          30_000,
        ),
      ),
    );
    await Promise.all(readers.map((reader) => reader.until((r) => r.dataCount >= 3, 10_000, '3 data events')));
    const victim = workers.find((proc) => handling(proc, ids[0]!, 'worker.generate').length > 0)!;
    expect(victim).toBeDefined();
    victim.signal('SIGKILL');

    for (const [i, reader] of readers.entries()) {
      const body = await reader.toEnd(NO_HANG_MS);
      const killed = handling(victim, ids[i]!, 'worker.generate').length > 0;
      if (!killed) {
        expect(errorEvents(body), body.slice(-300)).toEqual([]);
        continue;
      }
      const errors = errorEvents(body);
      expect(errors, body.slice(-300)).toHaveLength(1);
      expect(errors[0]!.error.code).toBe('instance_gone');
      expect(errors[0]!.error.message).toContain(ids[i]);
      // The client is not told which instance it was: its id names the host and process it ran in.
      expect(errors[0]!.error.message).toMatch(/^The worker instance serving this request went away\./);
      expect(errors[0]!.error.message).not.toContain(victim.instanceIds[0]!);
      expect(body.includes('data: [DONE]')).toBe(false);
      expect(migratedLines(processor, ids[i]!)).toEqual([]);
    }
  }, 90_000);
});
