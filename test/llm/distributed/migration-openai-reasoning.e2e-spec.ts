import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { handling, startUpstreamPipeline } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { startFakeUpstream } from '../../support/fake-upstream.js';
import type { FakeUpstream } from '../../support/fake-upstream.js';
import { describeWithNats } from '../../support/nats-server.js';
import { CHAT, chatBody, MODEL, request } from '../../support/requests.js';
import { errorEvents, serviceChunks, SseReader } from '../../support/sse.js';

/**
 * Distributed mode, request migration with the `openai` engine in front of a reasoning model (frontend |
 * processor,router | worker-a | worker-b, round-robin): `kill -9` of the worker serving two chat streams,
 * one still in its reasoning, one in its answer. The reasoning never becomes answer text: the stream lost
 * while reasoning is asked anew (its reasoning starts again, as reasoning), the one lost in its answer
 * continues the answer alone.
 */

/** A stream's reasoning and answer words: a long reasoning for a request whose id says so, else a short one. */
function wordsOf(id: string): { reasoning: string[]; answer: string[] } {
  const long = id.includes('long-reasoning');
  const words = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ` ${prefix}${i + 1}`);
  return { reasoning: words('r', long ? 40 : 3), answer: words('w', long ? 10 : 40) };
}

interface UpstreamBody {
  messages: Array<{ role: string; content: string }>;
  continue_final_message?: boolean;
  add_generation_prompt?: boolean;
}

/**
 * A paced reasoning model (a word every 60 ms): its reasoning in `delta.reasoning_content`, then its
 * answer. Asked to continue an assistant message, it goes on from the words that message ends with, all
 * as content, as a model server's reasoning parser does when the output it continues has no think tag.
 */
function reasoningModel(req: IncomingMessage, res: ServerResponse, body: unknown): void {
  const { reasoning, answer } = wordsOf(String(req.headers['x-request-id']));
  const sequence: Array<{ word: string; reasoning?: true }> = [
    ...reasoning.map((word) => ({ word, reasoning: true as const })),
    ...answer.map((word) => ({ word })),
  ];
  const request = body as UpstreamBody;
  const last = request.messages.at(-1)!;
  const held = request.continue_final_message === true && last.role === 'assistant' ? last.content : undefined;
  let start = 0;
  if (held !== undefined) {
    start = sequence.length;
    const text = (from: number, to: number) =>
      sequence
        .slice(from, to)
        .map(({ word }) => word)
        .join('');
    // Where the held text ends: after the reasoning and some answer, or after some of either alone.
    while (start > 0 && text(0, start) !== held && text(reasoning.length, start) !== held) start--;
  }
  const chunk = (delta: object, finish: string | null) =>
    `data: ${JSON.stringify({
      id: 'up-reasoning',
      object: 'chat.completion.chunk',
      created: 0,
      model: MODEL,
      choices: [{ index: 0, delta, finish_reason: finish }],
    })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(chunk({ role: 'assistant', content: '' }, null));
  let next = start;
  const timer = setInterval(() => {
    const piece = sequence[next++];
    if (piece !== undefined) {
      const continued = held !== undefined;
      res.write(
        chunk(piece.reasoning && !continued ? { reasoning_content: piece.word } : { content: piece.word }, null),
      );
      return;
    }
    clearInterval(timer);
    res.write(chunk({}, 'stop'));
    res.end('data: [DONE]\n\n');
  }, 60);
  res.on('close', () => clearInterval(timer));
}

interface Chunk {
  choices: Array<{ delta?: { content?: string; reasoning_content?: string }; finish_reason: string | null }>;
}

describeWithNats('distributed over NATS: request migration of a reasoning model with the openai engine', () => {
  let upstream: FakeUpstream;
  let cluster: Cluster;
  const workerNames = ['worker-a', 'worker-b'];

  beforeAll(async () => {
    upstream = await startFakeUpstream(reasoningModel, { maxModelLen: 8192 });
    cluster = await startUpstreamPipeline(workerNames, upstream.url);
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await upstream?.close();
  }, 30_000);

  it('kill -9 mid-reasoning and mid-answer: the reasoning stays reasoning, the answer is whole and alone', async () => {
    // Round-robin: the first and third on one worker, the second and fourth on the other.
    const ids = ['move-long-reasoning', 'stay-0', 'move-answer', 'stay-1'];
    const readers: SseReader[] = [];
    for (const id of ids) {
      const body = chatBody(`Think about ${id}.`, { stream: true });
      const res = await request(cluster.url, CHAT, body, { id, signal: AbortSignal.timeout(30_000) });
      expect(res.status).toBe(200);
      const reader = new SseReader(res);
      await reader.until((r) => r.dataCount >= 2, 10_000, '2 data events');
      readers.push(reader);
    }
    // Past the short reasoning (3 words) of the answering streams, within the long one's (40).
    await Promise.all(readers.map((reader) => reader.until((r) => r.dataCount >= 8, 10_000, '8 data events')));
    const [workerA, workerB] = workerNames.map((name) => cluster.get(name));
    const victim = handling(workerA!, ids[0]!, 'worker.generate').length > 0 ? workerA! : workerB!;
    expect(ids.filter((id) => handling(victim, id, 'worker.generate').length > 0)).toEqual([ids[0], ids[2]]);
    victim.signal('SIGKILL');

    for (const [i, id] of ids.entries()) {
      const text = await readers[i]!.toEnd(20_000);
      expect(errorEvents(text), `${id}: ${text.slice(-300)}`).toEqual([]);
      const deltas = serviceChunks<Chunk>(text).flatMap((chunk) => chunk.choices.map((choice) => choice.delta ?? {}));
      const content = deltas.map((delta) => delta.content ?? '').join('');
      const reasoned = deltas.map((delta) => delta.reasoning_content ?? '').join('');
      const { reasoning, answer } = wordsOf(id);
      expect(content, id).toBe(answer.join(''));
      const sent = upstream.received
        .filter((received) => received.headers['x-request-id'] === id)
        .map((received) => received.body as UpstreamBody);
      if (!id.startsWith('move-')) {
        expect(reasoned, id).toBe(reasoning.join(''));
        expect(sent, id).toHaveLength(1);
        continue;
      }
      expect(sent, id).toHaveLength(2);
      const [first, second] = sent as [UpstreamBody, UpstreamBody];
      if (id === 'move-long-reasoning') {
        // Asked anew: the reasoning the client had, then the new worker's from its start.
        expect(second, id).toEqual(first);
        const again = reasoning.join('');
        expect(reasoned.endsWith(again), reasoned).toBe(true);
        const before = reasoned.slice(0, reasoned.length - again.length);
        expect(before.length, reasoned).toBeGreaterThan(0);
        expect(again.startsWith(before), reasoned).toBe(true);
      } else {
        // Continued: the answer so far, without the reasoning, as the assistant's message to go on with.
        expect(reasoned, id).toBe(reasoning.join(''));
        expect(second).toMatchObject({ continue_final_message: true, add_generation_prompt: false });
        const carried = second.messages.at(-1)!;
        expect(carried.role).toBe('assistant');
        expect(carried.content).not.toMatch(/r\d/);
        expect(answer.join('').startsWith(carried.content) && carried.content !== '', carried.content).toBe(true);
      }
    }
  }, 60_000);
});
