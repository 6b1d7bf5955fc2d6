import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { EndpointError } from '@threadline/runtime';
import type { ComponentClient, ComponentEvents } from '@threadline/runtime';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MetricsService } from '../../observability/metrics/metrics.service.js';
import { loadLlmConfig } from '../llm.config.js';
import type { PrefillComponent } from '../prefill/prefill.component.js';
import type { GenerateRequest } from '../protocol/pipeline.types.js';
import { WorkerComponent } from './worker.component.js';

const gone = () =>
  new EndpointError({
    message: 'prefill instance p-1 went away',
    status: 503,
    code: 'instance_gone',
    requestId: 'r',
    component: 'prefill',
    endpoint: 'prefill',
  });

/** A Worker with disaggregation on, whose calls to a Prefill worker do as `prefill` says. */
function workerWith(prefill: () => Promise<unknown>): WorkerComponent {
  const config = loadLlmConfig({
    THREADLINE_DISAGG: '1',
    THREADLINE_DISAGG_THRESHOLD: '8',
    MOCKER_PREFILL_US_PER_TOKEN: '0',
    MOCKER_DECODE_MS_PER_TOKEN: '0',
  });
  const events = { publish: () => undefined, subscribe: () => () => undefined } as unknown as ComponentEvents;
  const client = {
    instances: () => Promise.resolve(['prefill-1']),
    prefill: () => ({
      [Symbol.asyncIterator]: async function* () {
        yield await prefill();
      },
    }),
  } as unknown as ComponentClient<PrefillComponent>;
  const worker = new WorkerComponent(config, events, client, new MetricsService());
  worker.onComponentStart({ instanceId: 'worker-1', index: 0 });
  return worker;
}

let prompts = 0;
/** A long prompt nothing of which is cached. */
async function generate(worker: WorkerComponent): Promise<void> {
  const base = 10_000 * ++prompts;
  const request: GenerateRequest = {
    tokenIds: Array.from({ length: 64 }, (_, i) => base + i),
    maxTokens: 1,
    temperature: 0,
    seed: 1,
    original: {},
  };
  const context = {
    requestId: `r-${prompts}`,
    callId: 'c',
    instanceId: 'worker-1',
    signal: new AbortController().signal,
  };
  for await (const _ of worker.generate(request, context));
}

describe('the Worker falling back to local prefill during a Prefill outage', () => {
  afterEach(() => vi.useRealTimers());

  it('writes the first fallback, then at most one line a minute counting those not logged, and the recovery', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const log = vi.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    const debug = vi.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
    let up = false;
    const worker = workerWith(() => (up ? Promise.resolve({ prefillWorkerId: 'prefill-1' }) : Promise.reject(gone())));
    try {
      for (let i = 0; i < 20; i++) await generate(worker);
      const fallbacks = () =>
        warn.mock.calls.filter(([line]) =>
          String((line as { msg?: unknown }).msg).startsWith('remote prefill unavailable'),
        );
      expect(fallbacks()).toHaveLength(1);
      expect(fallbacks()[0]![0]).toMatchObject({ workerId: 'worker-1', reason: 'instance_gone', notLogged: 0 });

      vi.advanceTimersByTime(60_000);
      await generate(worker);
      expect(fallbacks()).toHaveLength(2);
      expect(fallbacks()[1]![0]).toMatchObject({ notLogged: 19 });
      expect(String((fallbacks()[1]![0] as { msg: string }).msg)).toContain(
        '19 more fallbacks not logged since the last line',
      );

      await generate(worker);
      up = true;
      await generate(worker);
      await generate(worker);
      const recovered = log.mock.calls.filter(
        ([line]) => (line as { msg?: unknown }).msg === 'remote prefill available again to worker-1',
      );
      expect(recovered).toHaveLength(1);
      expect(recovered[0]![0]).toMatchObject({ workerId: 'worker-1', notLogged: 1 });
      expect(fallbacks()).toHaveLength(2);
    } finally {
      warn.mockRestore();
      log.mockRestore();
      debug.mockRestore();
      await worker.onComponentStop();
    }
  });
});
