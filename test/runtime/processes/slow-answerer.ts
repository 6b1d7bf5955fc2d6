import 'reflect-metadata';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Component, Endpoint } from '@threadline/runtime';
import type { EndpointContext } from '@threadline/runtime';
import { startNatsSide } from '../../support/nats-side.js';

/**
 * A unary endpoint that takes its time, served by a process of its own (`node … slow-answerer.ts
 * <nats url>`), so that a test can kill it mid-call. It writes `serving` once it serves, and
 * `taken <request id>` as it takes each call.
 */
@Component({ name: 'slow-answerer' })
export class SlowAnswerer {
  /**
   * Holds the event loop for `busyMs` once it has taken the call, as a long synchronous computation
   * does, so that the call's start frame does not leave before it: its caller cannot know it was taken.
   */
  @Endpoint()
  async answer(request: { busyMs: number }, context: EndpointContext): Promise<{ late: true }> {
    writeSync(1, `taken ${context.requestId}\n`);
    const until = Date.now() + request.busyMs;
    while (Date.now() < until);
    await sleep(1);
    return { late: true };
  }
}

async function main(url: string): Promise<void> {
  await startNatsSide({
    components: [SlowAnswerer],
    serve: [SlowAnswerer],
    nats: { url, shutdownGraceMs: 500 },
    tracing: { logLevel: 'error' },
  });
  process.stdout.write('serving\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  void main(process.argv[2]!);
