import { Controller, Get, Injectable, Logger, Param } from '@nestjs/common';
import type { OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCurrentRequestId, RequestIdService } from '@threadline/tracing';
import type { LogLine } from '../support/log-capture.js';
import { UUID_V4 } from '../support/raw-http.js';
import { PLATFORMS, startTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

const REQUESTS = 1000;

/** The steps the handler goes through, in order; each one reads the id and writes one log line. */
const STEPS = [
  'start',
  'timeout',
  'immediate',
  'then-1',
  'then-2',
  'emitter',
  'stream-s0',
  'stream-s1',
  'stream-s2',
  'end',
] as const;

interface Seen {
  step: string;
  saw: string | null;
}

/** What is going on in the app: requests in flight, and the most there ever were at once. */
const load = { inFlight: 0, peak: 0 };

/**
 * Holds every handler after its first step until all requests are in flight, so that they really run
 * together (the client and the server share one event loop, and would otherwise overlap only partly).
 * Released by the last request to arrive, or after a few seconds so that a lost request cannot hang it.
 */
let releaseBarrier: () => void = () => undefined;
let barrier: Promise<void> = Promise.resolve();

/** A fresh load count and a closed barrier, for the app of each platform. */
function resetLoad(): void {
  load.inFlight = 0;
  load.peak = 0;
  barrier = new Promise<void>((resolve) => {
    releaseBarrier = resolve;
  });
}

const randomDelay = () => Math.floor(Math.random() * 6);

@Controller()
class IsolationController {
  private readonly logger = new Logger('IsolationController');

  /**
   * `n` comes from the path, not from the context, so that the id the context gives can be checked
   * against the one the client sent.
   */
  @Get('iso/:n')
  async iso(@Param('n') n: string): Promise<{ expected: string; seen: Seen[] }> {
    const expected = `iso-${n}`;
    const seen: Seen[] = [];
    const note = (step: string) => {
      const saw = getCurrentRequestId() ?? null;
      seen.push({ step, saw });
      this.logger.log(`step ${step} of ${expected} saw ${String(saw)}`, { step, expected, saw });
    };
    load.inFlight++;
    load.peak = Math.max(load.peak, load.inFlight);
    try {
      note('start');
      if (load.inFlight >= REQUESTS) releaseBarrier();
      await Promise.race([barrier, sleep(10_000, undefined, { ref: false })]);
      await sleep(randomDelay());
      note('timeout');
      await new Promise<void>((resolve) => setImmediate(resolve));
      note('immediate');
      await Promise.resolve()
        .then(() => note('then-1'))
        .then(() => sleep(randomDelay()))
        .then(() => note('then-2'));
      await new Promise<void>((resolve) => {
        const emitter = new EventEmitter();
        emitter.once('tick', () => {
          note('emitter');
          resolve();
        });
        setTimeout(() => emitter.emit('tick'), randomDelay());
      });
      const stream = Readable.from(['s0', 's1', 's2']);
      await sleep(randomDelay());
      for await (const chunk of stream) {
        note(`stream-${String(chunk)}`);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      note('end');
      return { expected, seen };
    } finally {
      load.inFlight--;
    }
  }
}

/** Started at boot, outside any request: whatever it samples while requests run must be no id. */
@Injectable()
class BootTicker implements OnModuleInit, OnModuleDestroy {
  readonly logger = new Logger('BootTicker');
  /** The id onModuleInit saw; a string until it runs, so that a hook that never ran fails the check. */
  initSaw: string | undefined = 'init-not-run';
  /** Each tick: the id it saw, and how many requests were in flight at that moment. */
  readonly samples: Array<{ saw: string | undefined; inFlight: number }> = [];
  private timer: NodeJS.Timeout | undefined;

  onModuleInit(): void {
    this.initSaw = getCurrentRequestId();
    this.logger.log(`init saw ${String(this.initSaw)}`, { phase: 'init' });
    this.timer = setInterval(() => {
      const saw = getCurrentRequestId();
      this.samples.push({ saw, inFlight: load.inFlight });
      this.logger.log(`tick saw ${String(saw)}`, { phase: 'tick', saw: saw ?? null });
    }, 2);
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }
}

/** Every `iso-<n>` token that a line mentions anywhere but in its own `requestId` field. */
function mentionedIsoIds(line: LogLine): string[] {
  const { requestId: _ignored, ...rest } = line;
  return JSON.stringify(rest).match(/\biso-\d+\b/g) ?? [];
}

describe.each(PLATFORMS)('request isolation under concurrency on %s', (platform) => {
  let t: TestApp;

  beforeAll(async () => {
    resetLoad();
    t = await startTestApp({ platform, controllers: [IsolationController], providers: [BootTicker] });
  });
  afterAll(() => t.close());

  it('the test itself runs outside any request context', () => {
    expect(getCurrentRequestId()).toBeUndefined();
  });

  it(`keeps ${REQUESTS} concurrent requests apart across timers, immediates, promises, emitters and streams`, async () => {
    const ticker = t.app.get(BootTicker);
    const ticksBefore = ticker.samples.length;

    // Fire every request first, then wait for all of them: they are in flight together.
    const pending = Array.from({ length: REQUESTS }, (_, n) => {
      const id = `iso-${n}`;
      return fetch(`${t.url}/iso/${n}`, { headers: { 'x-request-id': id } }).then(async (res) => ({
        id,
        status: res.status,
        header: res.headers.get('x-request-id'),
        body: (await res.json()) as { expected: string; seen: Seen[] },
      }));
    });
    const results = await Promise.all(pending);

    // Really concurrent: many handlers were suspended at once, interleaving their steps.
    expect(load.peak).toBe(REQUESTS);
    expect(load.inFlight).toBe(0);

    const wrongResponses = results.filter(
      (r) =>
        r.status !== 200 ||
        r.header !== r.id ||
        r.body.expected !== r.id ||
        r.body.seen.length !== STEPS.length ||
        r.body.seen.some((s, i) => s.step !== STEPS[i] || s.saw !== r.id),
    );
    expect(wrongResponses).toEqual([]);
    expect(results).toHaveLength(REQUESTS);
    // Spot-check one response in full, with exact values.
    expect(results[417]).toEqual({
      id: 'iso-417',
      status: 200,
      header: 'iso-417',
      body: { expected: 'iso-417', seen: STEPS.map((step) => ({ step, saw: 'iso-417' })) },
    });

    // Logs: a line that mentions a request's id was written in that request's context, and no other.
    const lines = t.logs.lines;
    const mentioning = lines
      .map((line) => ({ requestId: line.requestId, mentions: mentionedIsoIds(line), msg: line.msg }))
      .filter((entry) => entry.mentions.length > 0);
    expect(mentioning.length).toBeGreaterThanOrEqual(REQUESTS * STEPS.length);
    const crossed = mentioning.filter((entry) => entry.mentions.some((id) => id !== entry.requestId));
    expect(crossed).toEqual([]);

    // And each request has exactly its own step lines, every one of them with its id.
    const stepLines = new Map<string, LogLine[]>();
    for (const line of lines) {
      if (line.context !== 'IsolationController') continue;
      const expected = line.expected as string;
      stepLines.set(expected, [...(stepLines.get(expected) ?? []), line]);
    }
    expect(stepLines.size).toBe(REQUESTS);
    const badStepLines: string[] = [];
    for (let n = 0; n < REQUESTS; n++) {
      const id = `iso-${n}`;
      const own = stepLines.get(id) ?? [];
      const ok =
        own.length === STEPS.length &&
        own.every((line, i) => line.requestId === id && line.saw === id && line.step === STEPS[i] && line.level === 30);
      if (!ok) badStepLines.push(id);
    }
    expect(badStepLines).toEqual([]);
    expect(t.logs.forRequest('iso-999').filter((line) => line.context === 'IsolationController')).toHaveLength(
      STEPS.length,
    );
    // The platform's request lines (Fastify's own; on Express, the module's accessLog) carry the id too.
    expect(t.logs.forRequest('iso-3').map((line) => line.msg)).toEqual(
      expect.arrayContaining(['incoming request', 'request completed']),
    );

    // The boot-time timer ticked while requests were in flight, and never saw an id.
    const during = ticker.samples.slice(ticksBefore);
    expect(during.filter((s) => s.inFlight > 0).length).toBeGreaterThan(0);
    expect(during.filter((s) => s.saw !== undefined)).toEqual([]);
  });

  it('code started at boot, outside any request, never sees an id and logs none', async () => {
    const ticker = t.app.get(BootTicker);
    expect(ticker.initSaw).toBeUndefined();
    // Let it tick some more, then look at everything it ever sampled and logged.
    await sleep(20);
    expect(ticker.samples.length).toBeGreaterThan(5);
    expect(ticker.samples.filter((s) => s.saw !== undefined)).toEqual([]);
    const tickerLines = t.logs.lines.filter((line) => line.context === 'BootTicker');
    expect(tickerLines.length).toBeGreaterThan(5);
    expect(tickerLines.filter((line) => 'requestId' in line)).toEqual([]);
    expect(tickerLines[0]).toMatchObject({ msg: 'init saw undefined', phase: 'init', level: 30 });
    expect(tickerLines.filter((line) => line.phase === 'tick' && line.saw !== null)).toEqual([]);
  });

  it('RequestIdService.run(fn, "cli-job-1") opens a context with that id, through awaits, and only inside fn', async () => {
    const ids = t.app.get(RequestIdService);
    const logger = new Logger('CliJob');
    expect(ids.id).toBeUndefined();
    const seen = await ids.run(async () => {
      const first = getCurrentRequestId();
      await sleep(3);
      await new Promise<void>((resolve) => setImmediate(resolve));
      const viaTimer = await new Promise<string | undefined>((resolve) => setTimeout(() => resolve(ids.id), 1));
      logger.log('cli job step', { job: 'cli' });
      return [first, viaTimer, getCurrentRequestId()];
    }, 'cli-job-1');
    expect(seen).toEqual(['cli-job-1', 'cli-job-1', 'cli-job-1']);
    expect(getCurrentRequestId()).toBeUndefined();
    expect(ids.id).toBeUndefined();
    const jobLines = t.logs.lines.filter((line) => line.context === 'CliJob');
    expect(jobLines).toHaveLength(1);
    expect(jobLines[0]).toMatchObject({ msg: 'cli job step', requestId: 'cli-job-1', job: 'cli', level: 30 });
  });

  it('RequestIdService.run(fn, "bad id") replaces the id with a UUID and logs the reason, never the value', async () => {
    const ids = t.app.get(RequestIdService);
    const before = t.logs.raw.length;
    const seen = await ids.run(async () => {
      await sleep(1);
      return getCurrentRequestId();
    }, 'bad id');
    expect(seen).toMatch(UUID_V4);
    expect(getCurrentRequestId()).toBeUndefined();
    const newLines = t.logs.raw.slice(before).map((raw) => JSON.parse(raw) as LogLine);
    const replaced = newLines.filter((line) => line.msg === 'incoming request id replaced by a generated one');
    expect(replaced).toHaveLength(1);
    expect(replaced[0]).toMatchObject({ requestId: seen, reason: 'invalid-characters', length: 6 });
    expect(t.logs.contains('bad id')).toBe(false);

    // Two runs with the same bad id get two different ids: nothing is reused.
    const again = ids.run(() => getCurrentRequestId(), 'bad id');
    expect(again).toMatch(UUID_V4);
    expect(again).not.toBe(seen);
  });
});
