import { Controller, Get, Logger, Sse } from '@nestjs/common';
import type { MessageEvent } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { interval, map, Observable, take, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogComponent, Traced } from '@threadline/tracing';
import { sseData } from '../support/sse.js';
import { PLATFORMS, startTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';
import { waitUntil } from '../support/wait-for.js';

const logger = new Logger('LogComponentSpec');

@LogComponent('backend')
@Controller('named')
class NamedController {
  /** The Observable's lines are written when Nest subscribes, after the handler has returned. */
  @Get('observable')
  observable(): Observable<number[]> {
    logger.log('observable handler');
    return interval(3).pipe(
      take(2),
      map((i) => {
        logger.log(`observable tick ${i}`);
        return i;
      }),
      toArray(),
    );
  }

  @Sse('sse')
  sse(): Observable<MessageEvent> {
    return interval(3).pipe(
      take(3),
      map((i): MessageEvent => {
        logger.log(`sse tick ${i}`);
        return { data: { i } };
      }),
    );
  }
}

/** `@Traced()` declared above `@LogComponent()`: the traced call's own lines name the component too. */
@Traced()
@LogComponent('frontend')
@Controller('traced-above')
class TracedAboveController {
  @Get()
  async handle(): Promise<{ ok: boolean }> {
    await sleep(1);
    logger.log('traced-above body');
    return { ok: true };
  }

  @Sse('sse')
  sse(): Observable<MessageEvent> {
    return interval(3).pipe(
      take(2),
      map((i): MessageEvent => {
        logger.log(`traced sse tick ${i}`);
        return { data: { i } };
      }),
    );
  }
}

describe.each(PLATFORMS)('@LogComponent() on %s', (platform) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ platform, controllers: [NamedController, TracedAboveController] });
  });

  afterAll(async () => {
    await t?.close();
  });

  const get = (path: string, id: string) => fetch(`${t.url}${path}`, { headers: { 'x-request-id': id } });
  const linesOf = (id: string, text: string) => t.logs.forRequest(id).filter((line) => line.msg?.includes(text));

  it('names the component on the lines of the Observable a handler returns, written after it returned', async () => {
    const id = `${platform}-lc-observable`;
    const res = await get('/named/observable', id);
    expect(await res.json()).toEqual([0, 1]);
    const lines = [...linesOf(id, 'observable handler'), ...linesOf(id, 'observable tick')];
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line.component).toBe('backend');
  });

  it("names the component on an @Sse() handler's events", async () => {
    const id = `${platform}-lc-sse`;
    const res = await get('/named/sse', id);
    expect(sseData(await res.text())).toHaveLength(3);
    const ticks = linesOf(id, 'sse tick');
    expect(ticks).toHaveLength(3);
    for (const line of ticks) expect(line.component).toBe('backend');
  });

  it('names the component on the lines of @Traced() declared above it, and of its stream', async () => {
    const id = `${platform}-lc-traced`;
    await (await get('/traced-above', id)).json();
    await waitUntil(() => linesOf(id, 'TracedAboveController.handle ended').length === 1);
    const lines = [
      ...linesOf(id, 'TracedAboveController.handle started'),
      ...linesOf(id, 'traced-above body'),
      ...linesOf(id, 'TracedAboveController.handle ended'),
    ];
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line.component).toBe('frontend');

    const sseId = `${platform}-lc-traced-sse`;
    await (await get('/traced-above/sse', sseId)).text();
    await waitUntil(() => linesOf(sseId, 'TracedAboveController.sse ended').length === 1);
    const sseLines = [...linesOf(sseId, 'traced sse tick'), ...linesOf(sseId, 'TracedAboveController.sse')];
    expect(sseLines).toHaveLength(4);
    for (const line of sseLines) expect(line.component).toBe('frontend');
  });
});
