import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/llm/worker/mocker/mock-text.js';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import type { NatsServer } from '../support/nats-server.js';
import type { ChatCompletion, TextCompletion } from '../support/openai-api.js';
import { CHAT, chatBody, COMPLETIONS, completionBody, send } from '../support/requests.js';
import { startPipeline } from '../support/pipeline-app.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { startComponentsFromSource, startFromSource } from '../support/service-process.js';
import type { ComponentProcess, ServiceProcess } from '../support/service-process.js';

/**
 * No prompt holds up the service: long prompts are tokenized in worker threads, in linear time, and one
 * whose size alone exceeds the context is refused at once. While adversarial prompts are answered, the
 * service (its own process) is probed with `GET /health` and a small chat, against generous bounds.
 */

const KIB = 1024;
/** Tells "held up" from "answered" on a loaded CI machine; latency is bench:hostile's to measure (bench/results.md). */
const RESPONSIVE_MS = 10_000;
const CJK = '我们的服务需要在任何输入下保持响应能力并且快速拒绝不合理的请求这是一个长句子没有标点符号';

/** `bytes` of UTF-8: one character repeated. */
function repeatedCharacter(bytes: number): string {
  return 'a'.repeat(bytes);
}

/** `bytes` of UTF-8 (3 a character) of CJK without punctuation, drawn at random so that no stretch repeats. */
function cjkText(bytes: number, seed: number): string {
  const random = mulberry32(seed);
  return Array.from({ length: Math.floor(bytes / 3) }, () => CJK[Math.floor(random() * CJK.length)]).join('');
}

interface Adversary {
  name: string;
  path: typeof CHAT | typeof COMPLETIONS;
  body: object;
}

function chat(name: string, content: string): Adversary {
  return { name, path: CHAT, body: chatBody(content, { max_tokens: 16 }) };
}

function completion(name: string, prompt: string): Adversary {
  return { name, path: COMPLETIONS, body: completionBody(prompt, { max_tokens: 16 }) };
}

interface Answer {
  name: string;
  status: number;
  text: string;
  ms: number;
}

interface Probe {
  status: number;
  ms: number;
  /** Answered while an adversarial prompt was still unanswered. */
  duringAdversary: boolean;
}

interface Outcome {
  answers: Answer[];
  health: Probe[];
  chats: Probe[];
}

/**
 * Sends every adversarial prompt at once; meanwhile, until all are answered, one small request at a
 * time of each kind, 20 ms apart.
 */
async function underAdversaries(url: string, adversaries: Adversary[]): Promise<Outcome> {
  let unanswered = adversaries.length;
  const started = performance.now();
  const answers = Promise.all(
    adversaries.map(async ({ name, path, body }) => {
      const { status, text } = await send(url, path, body).finally(() => unanswered--);
      return { name, status, text, ms: performance.now() - started };
    }),
  );
  const probe = async (send: () => Promise<number>): Promise<Probe[]> => {
    const probes: Probe[] = [];
    while (unanswered > 0) {
      const sent = performance.now();
      const status = await send();
      probes.push({ status, ms: performance.now() - sent, duringAdversary: unanswered > 0 });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return probes;
  };
  const [health, chats] = await Promise.all([
    probe(async () => (await fetch(`${url}/health`)).status),
    probe(async () => (await send(url, CHAT, chatBody('Hello!', { max_tokens: 4 }))).status),
  ]);
  return { answers: await answers, health, chats };
}

/** The small requests answered, quickly, while the adversarial prompts were in flight. */
function expectResponsive(outcome: Outcome): void {
  for (const [kind, probes] of [
    ['GET /health', outcome.health],
    ['a small chat', outcome.chats],
  ] as const) {
    const during = probes.filter((probe) => probe.duringAdversary);
    expect(during.length, `${kind}: answered while the adversarial prompts were in flight`).toBeGreaterThanOrEqual(2);
    expect(probes.map((probe) => probe.status)).toEqual(probes.map(() => 200));
    const slowest = Math.max(...probes.map((probe) => probe.ms));
    expect(slowest, `${kind}: the slowest of ${probes.length} answers, in ms`).toBeLessThan(RESPONSIVE_MS);
  }
}

function expectContextLengthExceeded(answer: Answer): void {
  expect(answer.status, `${answer.name}: ${answer.text.slice(0, 300)}`).toBe(400);
  expect(JSON.parse(answer.text)).toMatchObject({
    error: { type: 'invalid_request_error', code: 'context_length_exceeded' },
  });
}

describe('adversarial prompts against the default settings', () => {
  let service: ServiceProcess;
  beforeAll(async () => {
    service = await startFromSource({ LOG_REQUESTS: 'false' });
  });
  afterAll(() => service?.stop());

  it('one character repeated and CJK without punctuation, 100 KiB to 1 MiB, chat and completions: small requests keep answering meanwhile, and each prompt gets its 400 in bounded time', async () => {
    const outcome = await underAdversaries(service.url, [
      chat('100 KiB of one character (chat)', repeatedCharacter(100 * KIB)),
      completion('100 KiB of CJK (completions)', cjkText(100 * KIB, 1)),
      // Just under the size that proves it too long unread: all of it is tokenized, the longest work a prompt can ask.
      chat('900 KiB of CJK (chat)', cjkText(900 * KIB, 2)),
      completion('1 MiB of one character (completions)', repeatedCharacter(1024 * KIB)),
      chat('1 MiB of CJK (chat)', cjkText(1024 * KIB, 3)),
    ]);
    expectResponsive(outcome);
    for (const answer of outcome.answers) expectContextLengthExceeded(answer);
  }, 120_000);
});

describe('adversarial prompts that fit a large context', () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline({ THREADLINE_MAX_MODEL_LEN: '1000000' });
  });
  afterAll(() => pipeline.close());

  it('are served: 200, with the prompt tokens counted', async () => {
    for (const adversary of [
      chat('100 KiB of one character', repeatedCharacter(100 * KIB)),
      completion('200 KiB of CJK', cjkText(200 * KIB, 4)),
    ]) {
      const reply = await send(pipeline.url, adversary.path, adversary.body);
      expect(reply.status, reply.text.slice(0, 300)).toBe(200);
      expect((JSON.parse(reply.text) as ChatCompletion | TextCompletion).usage.prompt_tokens).toBeGreaterThan(10_000);
    }
  }, 60_000);
});

describeWithNats('adversarial prompts over NATS, the Processor in its own process', () => {
  let nats: NatsServer;
  const processes: ComponentProcess[] = [];
  let url: string;
  beforeAll(async () => {
    nats = await startNatsServer();
    const env = {
      THREADLINE_TRANSPORT: 'nats',
      NATS_URL: nats.url,
      LOG_REQUESTS: 'false',
      THREADLINE_SHUTDOWN_GRACE_MS: '2000',
    };
    const started = await Promise.allSettled(
      ['frontend', 'processor', 'router,worker'].map((components) =>
        startComponentsFromSource(components, { ...env, THREADLINE_COMPONENTS: components }),
      ),
    );
    for (const result of started) if (result.status === 'fulfilled') processes.push(result.value);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    url = processes.find((proc) => proc.url !== undefined)!.url!;
  }, 90_000);
  afterAll(async () => {
    await Promise.all(processes.map((proc) => proc.stop(2000)));
    await nats?.stop();
  }, 30_000);

  it('300 to 600 KiB of one character and of CJK: small requests keep answering meanwhile, and each prompt gets its 400', async () => {
    const outcome = await underAdversaries(url, [
      chat('300 KiB of one character (chat)', repeatedCharacter(300 * KIB)),
      completion('300 KiB of CJK (completions)', cjkText(300 * KIB, 5)),
      chat('600 KiB of CJK (chat)', cjkText(600 * KIB, 6)),
    ]);
    expectResponsive(outcome);
    for (const answer of outcome.answers) expectContextLengthExceeded(answer);
  }, 120_000);
});
