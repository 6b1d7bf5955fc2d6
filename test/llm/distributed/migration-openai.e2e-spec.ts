import { afterAll, beforeAll, expect, it } from 'vitest';
import { Tokenizer } from '../../../src/llm/processor/tokenizer.js';
import { forRequest, handling, startUpstreamPipeline } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { pacedAnswer, pacedWords, startFakeUpstream } from '../../support/fake-upstream.js';
import type { FakeUpstream } from '../../support/fake-upstream.js';
import { describeWithNats } from '../../support/nats-server.js';
import { CHAT, COMPLETIONS, chatBody, completionBody, request } from '../../support/requests.js';
import { errorEvents, serviceChunks, SseReader } from '../../support/sse.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Distributed mode, request migration with the `openai` engine (frontend | processor,router | worker-a |
 * worker-b, round-robin), both workers forwarding to one slow fake upstream on a real port: `kill -9`
 * of the worker serving a stream. The Processor sends the other worker the prompt and the tokens
 * already streamed; that worker asks the upstream anew, the completions prompt followed by the text
 * streamed, or the chat's messages followed by that text as the assistant's message to continue. The
 * client sees one stream with the same id, no error and the whole answer once.
 */

/** The upstream's answer: 40 words, one every 60 ms (2.4 s a stream). */
const WORDS = pacedWords(40);
const ANSWER = WORDS.join('');
const tokenizer = new Tokenizer();
/** Tokens the engine counts for the first `words` words: it encodes each chunk as it comes. */
const tokensOf = (words: number) => WORDS.slice(0, words).reduce((sum, word) => sum + tokenizer.encode(word).length, 0);

interface Chunk {
  id: string;
  choices: Array<{ text?: string; delta?: { content?: string }; finish_reason: string | null }>;
  usage?: { completion_tokens: number } | null;
}

interface UpstreamBody {
  prompt?: string;
  messages?: Array<{ role: string; content: string }>;
  continue_final_message?: boolean;
  add_generation_prompt?: boolean;
}

describeWithNats('distributed over NATS: request migration with the openai engine', () => {
  let upstream: FakeUpstream;
  let cluster: Cluster;
  const workerNames = ['worker-a', 'worker-b'];

  beforeAll(async () => {
    upstream = await startFakeUpstream(pacedAnswer({ words: WORDS.length, intervalMs: 60 }), { maxModelLen: 8192 });
    cluster = await startUpstreamPipeline(workerNames, upstream.url);
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await upstream?.close();
  }, 30_000);

  it('kill -9 of the worker serving a stream: the other worker asks the upstream for the rest, the client sees one whole answer', async () => {
    const streams = [
      { id: 'openai-move-c0', chat: false },
      { id: 'openai-move-c1', chat: false },
      { id: 'openai-move-h0', chat: true },
      { id: 'openai-move-h1', chat: true },
    ].map((stream) => ({
      ...stream,
      body: stream.chat
        ? chatBody(`Tell me the story called ${stream.id}.`, { stream: true, stream_options: { include_usage: true } })
        : completionBody(`The story called ${stream.id} begins:`, {
            max_tokens: 1000,
            stream: true,
            stream_options: { include_usage: true },
          }),
    }));
    // One after the other, so that round-robin puts one of each API on each worker.
    const readers: SseReader[] = [];
    for (const { id, chat, body } of streams) {
      const res = await request(cluster.url, chat ? CHAT : COMPLETIONS, body, {
        id,
        signal: AbortSignal.timeout(30_000),
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-request-id')).toBe(id);
      const reader = new SseReader(res);
      await reader.until((r) => r.dataCount >= 2, 10_000, '2 data events');
      readers.push(reader);
    }
    await Promise.all(readers.map((reader) => reader.until((r) => r.dataCount >= 5, 10_000, '5 data events')));
    const [workerA, workerB] = workerNames.map((name) => cluster.get(name));
    const victim = handling(workerA!, streams[0]!.id, 'worker.generate').length > 0 ? workerA! : workerB!;
    const survivor = victim === workerA ? workerB! : workerA!;
    const onVictim = streams.filter(({ id }) => handling(victim, id, 'worker.generate').length > 0);
    expect(
      onVictim.map(({ chat }) => chat),
      'one stream of each API on the worker to kill',
    ).toEqual([false, true]);
    victim.signal('SIGKILL');

    const processor = cluster.get('processor-router');
    for (const [i, { id, chat }] of streams.entries()) {
      const body = await readers[i]!.toEnd(20_000);
      expect(errorEvents(body), `${id}: ${body.slice(-300)}`).toEqual([]);
      const chunks = serviceChunks<Chunk>(body);
      expect(new Set(chunks.map((chunk) => chunk.id))).toEqual(new Set([`${chat ? 'chatcmpl' : 'cmpl'}-${id}`]));
      const choices = chunks.flatMap((chunk) => chunk.choices);
      const text = choices.map((choice) => (chat ? (choice.delta?.content ?? '') : (choice.text ?? ''))).join('');
      expect(text, id).toBe(ANSWER);
      expect(choices.map((choice) => choice.finish_reason).filter(Boolean)).toEqual(['stop']);
      expect(chunks.at(-1)!.usage?.completion_tokens, id).toBe(tokensOf(WORDS.length));

      const sent = upstream.received
        .filter((received) => received.headers['x-request-id'] === id)
        .map((received) => received.body as UpstreamBody);
      const moves = forRequest(processor, id).filter((line) => String(line.msg).startsWith('request migrated from '));
      if (!onVictim.some((stream) => stream.id === id)) {
        expect(sent, id).toHaveLength(1);
        expect(moves, id).toEqual([]);
        continue;
      }
      // A second upstream request, from the survivor: what the client had, as the head of the answer.
      expect(sent, id).toHaveLength(2);
      const [first, second] = sent as [UpstreamBody, UpstreamBody];
      let carried: string;
      if (chat) {
        expect(first.continue_final_message, id).toBeUndefined();
        expect(second.messages!.slice(0, -1), id).toEqual(first.messages);
        expect(second.messages!.at(-1)!.role, id).toBe('assistant');
        expect(second).toMatchObject({ continue_final_message: true, add_generation_prompt: false });
        carried = second.messages!.at(-1)!.content;
      } else {
        expect(second.prompt!.startsWith(first.prompt!), id).toBe(true);
        carried = second.prompt!.slice(first.prompt!.length);
      }
      // Whole words the first worker had streamed, at least the 4 the client read before the kill.
      const words = WORDS.findIndex((_, k) => WORDS.slice(0, k + 1).join('') === carried) + 1;
      expect(words, `${id}: carried ${JSON.stringify(carried)}`).toBeGreaterThanOrEqual(4);
      expect(text, id).toBe(carried + WORDS.slice(words).join(''));

      expect(moves, id).toHaveLength(1);
      expect(moves[0]).toMatchObject({
        from: victim.instanceIds[0],
        to: survivor.instanceIds[0],
        reason: 'instance_gone',
        tokensCarried: tokensOf(words),
      });
      await waitFor(
        () =>
          forRequest(survivor, id).some(
            (line) => line.msg === `continuing a migrated generation after ${tokensOf(words)} tokens`,
          ) || undefined,
        5000,
      );
    }
  }, 60_000);
});
