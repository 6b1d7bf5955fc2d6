import { afterAll, beforeAll, expect, it } from 'vitest';
import { forRequest, NO_HANG_MS, sleep, startSplitPipeline, within } from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import { describeWithNats } from '../../support/nats-server.js';
import { CHAT, chatBody, request } from '../../support/requests.js';

/**
 * Distributed mode, several workers a process (frontend | processor,router | worker-a: 4 | worker-b: 4,
 * round-robin, THREADLINE_MIGRATION_LIMIT=1): `kill -9` of a worker process takes its four instances at
 * once. A request that finds one of them not listening moves to a worker of another process, never to
 * a sibling that died with it: one move is enough for every request sent just after the kill.
 */

const REQUESTS = 12;

describeWithNats('distributed over NATS: a killed process takes all its workers with it', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startSplitPipeline(['worker-a', 'worker-b'], {
      worker: { THREADLINE_WORKERS: '4' },
      processor: { THREADLINE_MIGRATION_LIMIT: '1' },
      common: { THREADLINE_ROUTER: 'round-robin' },
    });
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it('requests routed to the dead process move once, to the live one, and all succeed', async () => {
    const victim = cluster.get('worker-a');
    const dead = new Set(victim.instanceIds);
    expect(dead.size).toBe(4);
    victim.signal('SIGKILL');
    // Long enough for nats-server to drop the dead connection's subscriptions (a call to one of its
    // instances then hears "no responders" at once), far shorter than the two seconds of silence after
    // which every process drops its instances.
    await sleep(300);
    // One after another, before the dead process's silence shows: round-robin sends some to its
    // instances, and a request that finds one of them not listening is moved by the next pick.
    const answers = await within(
      (async () => {
        const outcomes: Array<{ id: string; status: number; text: string }> = [];
        for (let i = 0; i < REQUESTS; i++) {
          const id = `siblings-${i}`;
          const res = await request(cluster.url, CHAT, chatBody(`right after the kill, ${i}`, { max_tokens: 2 }), {
            id,
            signal: AbortSignal.timeout(NO_HANG_MS),
          });
          outcomes.push({ id, status: res.status, text: await res.text() });
        }
        return outcomes;
      })(),
      NO_HANG_MS,
      'the requests sent just after the kill',
    );
    for (const answer of answers) expect(answer.status, `${answer.id}: ${answer.text}`).toBe(200);
    const processor = cluster.get('processor-router');
    const moves = answers.flatMap(({ id }) =>
      forRequest(processor, id).filter((line) => String(line.msg).startsWith('request migrated from ')),
    );
    expect(moves.length, 'requests routed to the dead process and moved').toBeGreaterThan(0);
    for (const move of moves) {
      expect(dead.has(String(move.from)), String(move.msg)).toBe(true);
      expect(dead.has(String(move.to)), String(move.msg)).toBe(false);
    }
  }, 90_000);
});
