import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longSeed } from '../../support/mocker-text.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { COMPLETIONS, MODEL } from '../../support/requests.js';
import { startFromSource } from '../../support/service-process.js';
import type { ServiceProcess } from '../../support/service-process.js';
import { waitFor } from '../../support/wait-for.js';

/**
 * A client that disconnects mid-stream from B stops A's worker (A runs as its own process).
 */

describe('a client that disconnects mid-stream from B', () => {
  let a: ServiceProcess;
  let b: PipelineApp;
  beforeAll(async () => {
    a = await startFromSource({ LOG_LEVEL: 'debug', MOCKER_DECODE_MS_PER_TOKEN: '5' });
    b = await startPipeline({ LOG_LEVEL: 'debug', THREADLINE_ENGINE: 'openai', UPSTREAM_URL: `${a.url}/v1` });
  }, 90_000);
  afterAll(async () => {
    await b?.close();
    await a?.stop();
  });

  /**
   * Streams a long completion through B as `id`, reads 5 events, and disconnects. Returns the length
   * of A's answer had it run to the end.
   */
  async function disconnectMidStream(id: string): Promise<number> {
    const prompt = 'a long story';
    // A seed whose answer is long (the mocker's natural length is 16-159 tokens), so there is a lot left to stop.
    const { seed, length } = longSeed(prompt, 150);
    const abort = new AbortController();
    const res = await fetch(`${b.url}${COMPLETIONS}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': id },
      body: JSON.stringify({ model: MODEL, prompt, max_tokens: 4000, stream: true, seed }),
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe(id);
    const reader = res.body!.getReader();
    let received = '';
    while ((received.match(/data: /g) ?? []).length < 5)
      received += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    return length;
  }

  it("stops A's worker generating; A logs the stop with the id", async () => {
    const limit = await disconnectMidStream('gone-chain-1');
    const stopLine = await waitFor(
      () =>
        a.logs
          .forRequest('gone-chain-1')
          .find((line) => line.component === 'worker' && String(line.msg).startsWith('generation stopped')),
      10_000,
    );
    expect(stopLine).toMatchObject({ requestId: 'gone-chain-1', component: 'worker', context: 'MockerEngine' });
    expect(stopLine.msg).toBe(
      `generation stopped after ${stopLine.produced as number} of ${limit} tokens: request cancelled`,
    );
    expect(stopLine.produced as number).toBeGreaterThanOrEqual(5);
    expect(stopLine.produced as number).toBeLessThan(limit);
    expect(a.logs.forRequest('gone-chain-1').some((line) => String(line.msg).startsWith('generation finished'))).toBe(
      false,
    );
    // B stopped reading from A, and did not report the cancellation as a failure.
    const own = await waitFor(() => {
      const lines = b.logs.forRequest('gone-chain-1');
      return lines.some((line) => line.msg === 'processor.generate cancelled') ? lines : undefined;
    }, 10_000);
    expect(own.filter((line) => line.level >= 50)).toEqual([]);
  });

  it("B's openai engine logs its own stop with the id ('upstream generation stopped: request cancelled')", async () => {
    await disconnectMidStream('gone-chain-2');
    await waitFor(
      () => a.logs.forRequest('gone-chain-2').find((line) => String(line.msg).startsWith('generation stopped')),
      10_000,
    );
    const stopLine = await waitFor(
      () =>
        b.logs.forRequest('gone-chain-2').find((line) => line.msg === 'upstream generation stopped: request cancelled'),
      3000,
    ).catch(() => undefined);
    expect(
      stopLine,
      `B's lines for the request: ${JSON.stringify(b.logs.forRequest('gone-chain-2').map((line) => `${String(line.component)}: ${String(line.msg)}`))}`,
    ).toMatchObject({ requestId: 'gone-chain-2', component: 'worker', level: 30 });
  });
});
