import { afterEach, describe, expect, it } from 'vitest';
import { startPipeline } from '../support/pipeline-app.js';
import { waitFor } from '../support/wait-for.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { completionBody, COMPLETIONS, request, send } from '../support/requests.js';

/** About `words` tokens of text that no other test uses, the same every time for the same seed. */
function longText(seed: string, words: number): string {
  return Array.from({ length: words }, (_, i) => `${seed}${(i * 7919) % 1000}`).join(' ');
}

interface Completion {
  choices: Array<{ text: string }>;
  usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } };
}

async function complete(
  url: string,
  id: string,
  prompt: string,
  extra: Record<string, unknown> = {},
): Promise<Completion> {
  const reply = await send(url, COMPLETIONS, completionBody(prompt, { max_tokens: 4, ...extra }), { id });
  expect(reply.status, reply.text).toBe(200);
  return JSON.parse(reply.text) as Completion;
}

describe('KV-aware routing with the mocker KV cache', () => {
  let pipeline: PipelineApp | undefined;
  afterEach(async () => {
    await pipeline?.close();
    pipeline = undefined;
  });

  it('sends a prompt sharing a long prefix to the worker that holds it: cached tokens and a shorter prefill', async () => {
    pipeline = await startPipeline({ LOG_LEVEL: 'debug', THREADLINE_WORKERS: '4', MOCKER_PREFILL_US_PER_TOKEN: '50' });
    const prefix = longText('shared', 600);
    const first = await complete(pipeline.url, 'kv-first', `${prefix} first question?`);
    const second = await complete(pipeline.url, 'kv-second', `${prefix} second question?`);

    const decision = (id: string) =>
      pipeline!.logs.forRequest(id).find((line) => String(line.msg).startsWith('routed to'))!;
    const prefill = (id: string) => pipeline!.logs.forRequest(id).find((line) => line.msg === 'prefill done')!;
    expect(decision('kv-second').workerId).toBe(decision('kv-first').workerId);
    expect(decision('kv-first')).toMatchObject({ component: 'router', policy: 'kv', prefixHitRate: 0, level: 30 });
    expect(decision('kv-second').prefixHitRate as number).toBeGreaterThan(0.9);

    expect(first.usage.prompt_tokens_details.cached_tokens).toBe(0);
    const cached = second.usage.prompt_tokens_details.cached_tokens;
    expect(cached).toBeGreaterThan(0.9 * second.usage.prompt_tokens);
    expect(cached % 16).toBe(0);
    expect(prefill('kv-second')).toMatchObject({ component: 'worker', cachedTokens: cached });
    expect(prefill('kv-second').prefillMs as number).toBeLessThan((prefill('kv-first').prefillMs as number) / 10);
  });

  it('round-robin, for contrast, sends it elsewhere and recomputes the prefix', async () => {
    pipeline = await startPipeline({ LOG_LEVEL: 'debug', THREADLINE_WORKERS: '2', THREADLINE_ROUTER: 'round-robin' });
    const prefix = longText('robin', 400);
    await complete(pipeline.url, 'rr-first', `${prefix} one`);
    const second = await complete(pipeline.url, 'rr-second', `${prefix} two`);
    const decision = (id: string) =>
      pipeline!.logs.forRequest(id).find((line) => String(line.msg).startsWith('routed to'))!;
    const prefill = (id: string) => pipeline!.logs.forRequest(id).find((line) => line.msg === 'prefill done')!;
    expect(decision('rr-first')).toMatchObject({ component: 'router', policy: 'round-robin' });
    expect(decision('rr-second').workerId).not.toBe(decision('rr-first').workerId);
    expect(second.usage.prompt_tokens_details.cached_tokens).toBe(0);
    expect(prefill('rr-second')).toMatchObject({ component: 'worker', cachedTokens: 0 });
  });

  it('spreads unrelated prompts across both workers', async () => {
    pipeline = await startPipeline({ THREADLINE_WORKERS: '2', MOCKER_KV_BLOCKS: '64' });
    for (let i = 0; i < 6; i++) await complete(pipeline.url, `spread-${i}`, longText(`family${i}`, 300));
    const workers = new Set(
      pipeline.logs.lines.filter((line) => String(line.msg).startsWith('routed to')).map((line) => line.workerId),
    );
    expect(workers).toEqual(new Set(['worker-0', 'worker-1']));
  });
});

describe('disaggregated prefill and decode (THREADLINE_DISAGG=1)', () => {
  let pipeline: PipelineApp | undefined;
  afterEach(async () => {
    await pipeline?.close();
    pipeline = undefined;
  });

  it('prefills a long prompt on a Prefill worker, then decodes; a short one is prefilled locally', async () => {
    pipeline = await startPipeline({ LOG_LEVEL: 'debug', THREADLINE_DISAGG: '1', THREADLINE_DISAGG_THRESHOLD: '256' });
    const long = await complete(pipeline.url, 'disagg-long', longText('disagg', 500), { max_tokens: 3 });
    expect(long.choices[0]!.text.length).toBeGreaterThan(0);
    const lines = pipeline.logs.forRequest('disagg-long');
    expect(lines.some((line) => line.component === 'prefill' && line.msg === 'handling prefill.prefill')).toBe(true);
    expect(lines.some((line) => line.component === 'prefill' && line.msg === 'prefill done')).toBe(true);
    expect(lines.find((line) => String(line.msg).startsWith('prefilled remotely by'))).toMatchObject({
      component: 'worker',
      prefillWorkerId: 'prefill-0',
    });

    await complete(pipeline.url, 'disagg-short', 'a short prompt', { max_tokens: 3 });
    const short = pipeline.logs.forRequest('disagg-short');
    expect(short.some((line) => line.component === 'prefill')).toBe(false);
    expect(short.some((line) => line.component === 'worker' && line.msg === 'prefill done')).toBe(true);
  });

  it('a client that disconnects during the remote prefill cancels the prefill and the decode', async () => {
    pipeline = await startPipeline({
      LOG_LEVEL: 'debug',
      THREADLINE_DISAGG: '1',
      THREADLINE_DISAGG_THRESHOLD: '256',
      MOCKER_PREFILL_US_PER_TOKEN: '10000',
    });
    const abort = new AbortController();
    const res = await request(
      pipeline.url,
      COMPLETIONS,
      completionBody(longText('cancelme', 500), { max_tokens: 50, stream: true }),
      {
        id: 'disagg-gone',
        signal: abort.signal,
      },
    );
    expect(res.status).toBe(200);
    await waitFor(() =>
      pipeline!.logs.forRequest('disagg-gone').find((line) => line.msg === 'handling prefill.prefill'),
    );
    abort.abort();
    const stopped = await waitFor(() =>
      pipeline!.logs.forRequest('disagg-gone').find((line) => line.msg === 'prefill stopped: request cancelled'),
    );
    expect(stopped).toMatchObject({ component: 'prefill', instanceId: 'prefill-0' });
    await waitFor(() =>
      pipeline!.logs
        .forRequest('disagg-gone')
        .find((line) => line.component === 'worker' && line.msg === 'worker.generate cancelled'),
    );
    const lines = pipeline.logs.forRequest('disagg-gone');
    expect(lines.some((line) => line.msg === 'prefill done')).toBe(false);
    expect(lines.some((line) => String(line.msg).startsWith('generation'))).toBe(false);
    expect(lines.some((line) => line.level >= 50)).toBe(false);
  });
});
