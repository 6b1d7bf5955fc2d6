import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import type { NatsServer } from '../support/nats-server.js';
import { startPipeline } from '../support/pipeline-app.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { apiBody, MODEL, pathOf, send } from '../support/requests.js';
import type { Api, Reply } from '../support/requests.js';
import { startComponentsFromSource } from '../support/service-process.js';
import type { ComponentProcess } from '../support/service-process.js';

/**
 * The same answer in every layout. The NATS server runs with a 64 KiB `max_payload`
 * so that bodies a few hundred KB long (quick to tokenize on CI) cross it the way 1-4 MiB bodies cross
 * the default 1 MiB; the same requests go to the service in one process, and the answers must match.
 */

const MAX_PAYLOAD = 64 * 1024;
/**
 * Room for the long prompts below (about 70k tokens); large KV blocks keep the workers' KV events (a
 * hash per block, broadcast, not split) under the small max_payload.
 */
const ENV = { THREADLINE_MAX_MODEL_LEN: '131072', MOCKER_BLOCK_SIZE: '256', MOCKER_KV_BLOCKS: '2048' };
/** A body of about 3 × `MAX_PAYLOAD`, with distinct words so the tokenizer sees ordinary text. */
function largeBody(api: Api, stream: boolean): object {
  const text = Array.from({ length: 24_000 }, (_, i) => `w${i}`).join(' ');
  return apiBody(api, text, { max_tokens: 8, seed: 7, stream });
}

/** `{"unknown": [[[ … ]]]}`: 10,000 levels of nesting in a field the service does not read, about 20 KB. */
function deeplyNestedBody(): string {
  return `{"model":"${MODEL}","messages":[{"role":"user","content":"hi"}],"unknown":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
}

/** What must be the same in both layouts: the status, and the prompt's token count (or the stream's end). */
function answerOf(stream: boolean, reply: Reply) {
  if (reply.status !== 200) return { status: reply.status, body: reply.text };
  if (!stream)
    return {
      status: 200,
      promptTokens: (JSON.parse(reply.text) as { usage: { prompt_tokens: number } }).usage.prompt_tokens,
    };
  const events = reply.text.split('\n\n').filter((event) => event.startsWith('data: '));
  return {
    status: 200,
    ended: events.at(-1) === 'data: [DONE]',
    errors: events.filter((event) => event.includes('"error"')).length,
  };
}

describeWithNats('the same answer in one process and over NATS, past max_payload', () => {
  let nats: NatsServer | undefined;
  const processes: ComponentProcess[] = [];
  let oneProcess: PipelineApp | undefined;
  let overNats = '';

  beforeAll(async () => {
    nats = await startNatsServer({ maxPayload: MAX_PAYLOAD });
    const env = (components: string) => ({
      ...ENV,
      THREADLINE_TRANSPORT: 'nats',
      NATS_URL: nats!.url,
      THREADLINE_COMPONENTS: components,
      THREADLINE_WORKERS: '1',
    });
    const [frontend, ...rest] = await Promise.all([
      startComponentsFromSource('frontend', env('frontend')),
      startComponentsFromSource('processor', env('processor')),
      startComponentsFromSource('router-worker', env('router,worker')),
      startPipeline(ENV).then((app) => (oneProcess = app) && undefined),
    ]);
    processes.push(frontend, ...(rest.filter(Boolean) as ComponentProcess[]));
    overNats = frontend.url!;
  }, 90_000);

  afterAll(async () => {
    await Promise.all(processes.map((proc) => proc.stop(2000)));
    await oneProcess?.close();
    await nats?.stop();
  }, 30_000);

  for (const api of ['chat', 'completion'] as const) {
    for (const stream of [false, true]) {
      it(`answers a ${api} request ${stream ? 'streamed' : 'not streamed'} larger than max_payload with 200, as in one process`, async () => {
        const body = JSON.stringify(largeBody(api, stream));
        expect(body.length).toBeGreaterThan(2 * MAX_PAYLOAD);
        const [local, distributed] = await Promise.all([
          send(oneProcess!.url, pathOf(api), body),
          send(overNats, pathOf(api), body),
        ]);
        expect(answerOf(stream, distributed)).toEqual(answerOf(stream, local));
        expect(distributed.status).toBe(200);
      }, 30_000);
    }
  }

  it('refuses a body nested 10,000 levels deep with a 400 naming the field, in one process and over NATS', async () => {
    const body = deeplyNestedBody();
    const [local, distributed] = await Promise.all([
      send(oneProcess!.url, pathOf('chat'), body),
      send(overNats, pathOf('chat'), body),
    ]);
    for (const reply of [local, distributed]) {
      expect(reply.status).toBe(400);
      const { error } = JSON.parse(reply.text) as {
        error: { type: string; param: string; code: string; message: string };
      };
      expect(error).toMatchObject({ type: 'invalid_request_error', param: 'unknown', code: 'json_too_deep' });
      expect(error.message).toContain('nested more than 64 levels');
    }
  }, 30_000);
});

describeWithNats(
  'a long prompt over NATS: its KV block ids, computed with its tokens, serve the router and the worker',
  () => {
    let nats: NatsServer | undefined;
    const processes: ComponentProcess[] = [];
    let overNats = '';

    beforeAll(async () => {
      nats = await startNatsServer();
      const env = (components: string) => ({
        ...ENV,
        THREADLINE_TRANSPORT: 'nats',
        NATS_URL: nats!.url,
        THREADLINE_COMPONENTS: components,
        THREADLINE_WORKERS: '2',
      });
      processes.push(
        ...(await Promise.all([
          startComponentsFromSource('frontend', env('frontend')),
          startComponentsFromSource('processor', env('processor')),
          startComponentsFromSource('router-worker', env('router,worker')),
        ])),
      );
      overNats = processes[0]!.url!;
    }, 90_000);

    afterAll(async () => {
      await Promise.all(processes.map((proc) => proc.stop(2000)));
      await nats?.stop();
    }, 30_000);

    it('the same long prompt twice: the second is routed to the worker holding its blocks, every full block cached', async () => {
      // Long enough to be tokenized in a thread, where the block ids are computed and sent along.
      const text = Array.from({ length: 24_000 }, (_, i) => `v${i}`).join(' ');
      const body = JSON.stringify(apiBody('chat', text, { max_tokens: 2, seed: 3 }));
      const usageOf = (reply: Reply) => {
        expect(reply.status).toBe(200);
        return (
          JSON.parse(reply.text) as {
            usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } };
          }
        ).usage;
      };
      const first = usageOf(await send(overNats, pathOf('chat'), body));
      expect(first.prompt_tokens_details.cached_tokens).toBe(0);
      const second = usageOf(await send(overNats, pathOf('chat'), body));
      const blockSize = Number(ENV.MOCKER_BLOCK_SIZE);
      expect(second.prompt_tokens_details.cached_tokens).toBe(Math.floor(first.prompt_tokens / blockSize) * blockSize);
    }, 30_000);
  },
);
