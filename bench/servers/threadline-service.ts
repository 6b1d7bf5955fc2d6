/**
 * The Threadline service for the streaming and memory benchmarks: every component in this one process
 * (in-process transport), configured from the environment the benchmark passes (THREADLINE_WORKERS,
 * MOCKER_*, LOG_LEVEL, LOG_REQUESTS…), logs thrown away. Listens on a free loopback port and prints
 * `READY <port>` (`READY 0` in a process without the Frontend, which serves over NATS alone).
 *
 * One bench-only route is added at the Fastify layer, outside the application's modules:
 * `GET /__rss` answers this process's memory (`process.memoryUsage()`, bytes, and `youngGeneration`, the
 * bytes V8's new space has committed) after a full garbage collection when the process was started with
 * --expose-gc (`gc: true` in the answer says it was).
 *
 * With `BENCH_SPANS_DROPPED=true` it registers a span recorder that keeps nothing: spans are made and
 * ended as with the timeline or export on, and dropped (bench:observability's `made` variant).
 */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { getHeapSpaceStatistics } from 'node:v8';
import { addSpanRecorder } from '@threadline/tracing';
import { createApp } from '../../src/app.factory.js';
import { loadAppConfig } from '../../src/config/app.config.js';
import { listenOptions } from '../../src/http/http-limits.js';
import { loadLlmConfig } from '../../src/llm/llm.config.js';

async function main(): Promise<void> {
  if (process.env.BENCH_SPANS_DROPPED === 'true') addSpanRecorder({ onEnd: () => undefined });
  const config = loadAppConfig(process.env);
  config.tracing.logDestination = new Writable({ write: (_chunk, _encoding, done) => done() });
  const app = await createApp(config, loadLlmConfig(process.env));
  app
    .getHttpAdapter()
    .getInstance()
    .get('/__rss', async () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc !== undefined) {
        // Twice: the first collection's finalisers and weak callbacks can free more on the second.
        gc();
        await new Promise((resolve) => setImmediate(resolve));
        gc();
      }
      const youngGeneration = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size;
      return { gc: gc !== undefined, youngGeneration, ...process.memoryUsage() };
    });
  // A process without the Frontend (bench:nats spreads the pipeline over processes) serves over NATS alone.
  if (!config.runtime.components.includes('frontend')) {
    await app.init();
    console.log('READY 0');
    return;
  }
  await app.listen(listenOptions(0, '127.0.0.1', config.httpLimits));
  console.log(`READY ${(app.getHttpServer().address() as AddressInfo).port}`);
}

await main();
