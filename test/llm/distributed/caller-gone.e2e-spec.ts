import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  NO_HANG_MS,
  forRequest,
  generationEnd,
  handling,
  nats,
  sleep,
  startCluster,
  warmUp,
} from '../../support/cluster.js';
import type { Cluster } from '../../support/cluster.js';
import type { LogLine } from '../../support/log-capture.js';
import { longSeed } from '../../support/mocker-text.js';
import { describeWithNats } from '../../support/nats-server.js';
import type { SpawnedService } from '../../support/service-process.js';
import { COMPLETIONS, completionBody, request } from '../../support/requests.js';
import { SseReader } from '../../support/sse.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * Distributed mode: no work goes on for a caller that is gone, whether it stopped waiting (its deadline
 * passed) or died (`kill -9`). Two of each process but the workers (frontend-a, frontend-b | proc-a,
 * proc-b: processor,router | worker-a | worker-b), so each test can kill one; generations last seconds
 * (the mocker at 40 ms a token). A stall is SIGSTOP: the process keeps its sockets and reads what came
 * meanwhile once SIGCONT resumes it, as after a long pause of its event loop.
 */

/** The Frontend's request timeout here: the deadline every call of a request carries. */
const REQUEST_TIMEOUT_MS = 9000;
/** A process id, as the transport makes them. */
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
/** How soon the work of a killed caller must stop. */
const STOPS_WITHIN_MS = 3000;

describeWithNats(
  'distributed over NATS: deadlines and callers gone (two frontends, two processors, two workers)',
  () => {
    let cluster: Cluster;
    const workerNames = ['worker-a', 'worker-b'];
    const prompt = 'a story long enough to outlive its caller';
    // 150 tokens at 40 ms: six seconds of generation, longer than any wait below.
    const { seed } = longSeed(prompt, 150);
    const body = (stream: boolean) => completionBody(prompt, { max_tokens: 1000, stream, seed });

    beforeAll(async () => {
      const server = await nats();
      const frontend = { THREADLINE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) };
      const worker = { THREADLINE_WORKERS: '1' };
      cluster = await startCluster(
        server,
        [
          { name: 'frontend-a', components: 'frontend', env: frontend },
          { name: 'frontend-b', components: 'frontend', env: frontend },
          { name: 'proc-a', components: 'processor,router' },
          { name: 'proc-b', components: 'processor,router' },
          { name: 'worker-a', components: 'worker', env: worker },
          { name: 'worker-b', components: 'worker', env: worker },
        ],
        { MOCKER_DECODE_MS_PER_TOKEN: '40' },
      );
      await warmUp(cluster, workerNames);
    }, 180_000);
    afterAll(() => cluster?.stop(), 30_000);

    const workers = () => workerNames.map((name) => cluster.get(name));
    const processors = () => ['proc-a', 'proc-b'].map((name) => cluster.get(name));
    const servingOf = (procs: SpawnedService[], id: string, what: string) =>
      waitFor(() => procs.find((proc) => handling(proc, id, what).length > 0), 10_000);
    /** When a line was written (pino's `time`), else now. */
    const timeOf = (line: LogLine) => (typeof line.time === 'number' ? line.time : Date.now());

    it('a processor stalled past the Frontend’s timeout leaves no generation behind: every one it starts late stops at the deadline', async () => {
      const ids = Array.from({ length: 6 }, (_, i) => `stalled-${i}`);
      for (const proc of processors()) proc.signal('SIGSTOP');
      let answers: Array<{ id: string; status: number }>;
      const sentAt = Date.now();
      try {
        const pending = ids.map(async (id) => {
          const res = await request(cluster.url, COMPLETIONS, body(false), { id, signal: AbortSignal.timeout(30_000) });
          await res.text();
          return { id, status: res.status };
        });
        // Longer than the Frontend waits for a processor to take a call, shorter than the deadline.
        await sleep(6500);
        for (const proc of processors()) proc.signal('SIGCONT');
        answers = await Promise.all(pending);
      } finally {
        for (const proc of processors()) proc.signal('SIGCONT');
      }
      // The clients had their answer (no instance took the call in time) long before the deadline.
      for (const answer of answers) expect(answer.status, answer.id).toBeGreaterThanOrEqual(500);

      // Past the deadline and a margin, every generation that started has ended, and none finished.
      await sleep(Math.max(0, sentAt + REQUEST_TIMEOUT_MS + 1500 - Date.now()));
      const started = ids.flatMap((id) =>
        workers().flatMap((worker) => (handling(worker, id, 'worker.generate').length > 0 ? [{ id, worker }] : [])),
      );
      const ends = started.map(({ id, worker }) => ({ id, end: generationEnd(worker, id) }));
      expect(
        ends.filter(({ end }) => end === undefined || !String(end.msg).startsWith('generation stopped')),
        'generations not stopped',
      ).toEqual([]);
      for (const { id, end } of ends)
        expect(timeOf(end!), `${id} stopped by the deadline`).toBeLessThan(sentAt + REQUEST_TIMEOUT_MS + 1000);
      const refused = ids.filter((id) =>
        processors().some((proc) =>
          forRequest(proc, id).some((line) => String(line.msg).endsWith('not started: its deadline passed')),
        ),
      );
      // Each request's generation either started late and was stopped, or was never started.
      expect(started.length + refused.length, JSON.stringify({ started, refused })).toBeGreaterThan(0);
    }, 60_000);

    it('a Frontend stalled past its callees’ patience answers its client a 503 it may retry, not a cancellation', async () => {
      const frontend = cluster.get('frontend-a');
      const id = 'frontend-stalled-1';
      const streamId = 'frontend-stalled-2';
      const pending = request(frontend.url!, COMPLETIONS, body(false), { id, signal: AbortSignal.timeout(30_000) });
      const streaming = request(frontend.url!, COMPLETIONS, body(true), {
        id: streamId,
        signal: AbortSignal.timeout(30_000),
      });
      await servingOf(workers(), streamId, 'worker.generate');
      const worker = await servingOf(workers(), id, 'worker.generate');
      frontend.signal('SIGSTOP');
      try {
        // Past the two seconds of silence after which its callees stop its calls.
        await worker.waitForLine(
          (line) => line.requestId === id && /^generation (finished|stopped)/.test(String(line.msg)),
          NO_HANG_MS,
          `the end of ${id}'s generation`,
        );
        await sleep(500);
      } finally {
        frontend.signal('SIGCONT');
      }
      const res = await pending;
      const text = await res.text();
      expect(res.status, text).toBe(503);
      const { error } = JSON.parse(text) as { error: { type: string; code: string; message: string } };
      expect(error).toMatchObject({ type: 'server_error', code: 'caller_silent' });
      expect(error.message).toContain(`(request id ${id})`);
      // In the client's terms: no process id it never saw, but what happened to the service, and for how long.
      expect(error.message).toMatch(
        /this service paused, or lost contact with its workers, for more than \d+(\.\d)? s/,
      );
      expect(error.message).not.toMatch(UUID);
      // The stream, under way, ends with that error as its last event, and the Frontend says so in a line.
      const events = await (await streaming).text();
      expect(events).toContain('"code":"caller_silent"');
      expect(events).not.toContain('[DONE]');
      const failed = await waitFor(() =>
        forRequest(frontend, streamId).find((line) => String(line.msg).startsWith('request failed:')),
      );
      expect(String(failed.msg)).toContain('this service paused');
      // The callee's line names the process that fell silent, for operators.
      const stopped = processors().flatMap((proc) =>
        forRequest(proc, streamId).filter((line) =>
          String(line.msg).startsWith('stopping processor.generate: its caller'),
        ),
      );
      expect(stopped.map((line) => String(line.msg))).toEqual([
        expect.stringMatching(new RegExp(`\\(process ${UUID.source}\\) was silent for`)),
      ]);
      // And the Frontend said that id was its own as it connected, with its pid.
      const silentId = new RegExp(`\\(process (${UUID.source})\\)`).exec(String(stopped[0]!.msg))![1];
      const connected = frontend.logs.lines.filter((line) => line.processId === silentId);
      expect(connected.map((line) => String(line.msg))).toEqual([
        expect.stringMatching(/^connected to NATS at .* as process /),
      ]);
      expect(connected.map((line) => line.pid)).toEqual([frontend.child.pid]);
    }, 60_000);

    it('kill -9 of the processor stops its workers’ generations within 3 s', async () => {
      const id = 'processor-killed-1';
      const res = await request(cluster.url, COMPLETIONS, body(true), { id, signal: AbortSignal.timeout(30_000) });
      expect(res.status).toBe(200);
      const reader = new SseReader(res);
      await reader.until((r) => r.dataCount >= 3, 10_000, '3 data events');
      const processor = await servingOf(processors(), id, 'processor.generate');
      const worker = await servingOf(workers(), id, 'worker.generate');

      const killedAt = Date.now();
      processor.signal('SIGKILL');
      const end = await worker.waitForLine(
        (line) => line.requestId === id && /^generation (finished|stopped)/.test(String(line.msg)),
        NO_HANG_MS,
        `the end of ${id}'s generation`,
      );
      expect(end.msg).toMatch(/^generation stopped/);
      expect(timeOf(end) - killedAt, 'ms from the kill to the generation stopping').toBeLessThanOrEqual(
        STOPS_WITHIN_MS,
      );
      await reader.toEnd(NO_HANG_MS).catch(() => undefined);
    }, 60_000);

    it('kill -9 of the Frontend mid-stream stops the pipeline behind it within 3 s', async () => {
      const frontend = cluster.get('frontend-b');
      const id = 'frontend-killed-1';
      const res = await request(frontend.url!, COMPLETIONS, body(true), { id, signal: AbortSignal.timeout(30_000) });
      expect(res.status).toBe(200);
      const reader = new SseReader(res);
      await reader.until((r) => r.dataCount >= 3, 10_000, '3 data events');
      const processor = await servingOf(
        processors().filter((proc) => proc.running),
        id,
        'processor.generate',
      );
      const worker = await servingOf(workers(), id, 'worker.generate');

      const killedAt = Date.now();
      frontend.signal('SIGKILL');
      const [end, processorEnd] = await Promise.all([
        worker.waitForLine(
          (line) => line.requestId === id && /^generation (finished|stopped)/.test(String(line.msg)),
          NO_HANG_MS,
          `the end of ${id}'s generation`,
        ),
        processor.waitForLine(
          (line) => line.requestId === id && /^processor\.generate (cancelled|failed|ended)/.test(String(line.msg)),
          NO_HANG_MS,
          `the end of ${id}'s processor call`,
        ),
      ]);
      expect(end.msg).toMatch(/^generation stopped/);
      expect(processorEnd.msg).toMatch(/cancelled/);
      expect(timeOf(end) - killedAt, 'ms from the kill to the generation stopping').toBeLessThanOrEqual(
        STOPS_WITHIN_MS,
      );
    }, 60_000);
  },
);
