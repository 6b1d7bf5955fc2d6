import { expect, it } from 'vitest';
import { sleep } from '../support/cluster.js';
import { exportingCluster } from '../support/exporting-cluster.js';
import { describeWithNats } from '../support/nats-server.js';
import type { CollectedSpan, OtlpCollector } from '../support/otlp-collector.js';
import { longSeed } from '../support/mocker-text.js';
import { CHAT, COMPLETIONS, chatBody, completionBody, request } from '../support/requests.js';
import { openStream } from '../support/sse.js';

/**
 * Sampling across processes (docs/configuration.md, "Traces"): the process where a trace starts decides
 * whether it is sampled and says so in the `traceparent` it passes on, so every process exports a trace
 * whole or not at all; and a process that serves components over NATS alone sends its last spans when
 * it is stopped.
 */

const SERVER = 2;
const COMPONENTS = ['frontend', 'processor', 'router', 'worker'];

async function chat(url: string, id: string, headers: Record<string, string> = {}): Promise<void> {
  const res = await request(url, CHAT, chatBody(`sampled or not ${id}`, { max_tokens: 3 }), { id, headers });
  expect(res.status).toBe(200);
  await res.text();
}

/** The components whose server spans are among `spans`: a call names its component; the HTTP request is the Frontend's. */
function componentsOf(spans: CollectedSpan[]): Set<string> {
  const ids = new Set(spans.map((span) => span.spanId));
  const names = new Set<string>();
  for (const span of spans) {
    if (span.kind !== SERVER) continue;
    const service = span.attributes['rpc.service'];
    if (typeof service === 'string') names.add(service);
    else if (span.parentSpanId === undefined || !ids.has(span.parentSpanId)) names.add('frontend');
  }
  return names;
}

/** Waits until no span has arrived for a while: every process has sent its batches. */
async function settled(collector: OtlpCollector): Promise<void> {
  for (let count = -1; count !== collector.spans.length;) {
    count = collector.spans.length;
    await sleep(600);
  }
}

function spansOf(collector: OtlpCollector, id: string): CollectedSpan[] {
  return collector.spans.filter((span) => span.attributes.x_request_id === id);
}

describeWithNats('a ratio sampler over NATS, one process per component', () => {
  const suite = exportingCluster(
    COMPONENTS.map((name) => ({ name, components: name, env: { OTEL_SERVICE_NAME: `threadline-${name}` } })),
    {
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.5',
    },
  );

  it('exports each trace the Frontend starts from every process or from none', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `ratio-${i}`);
    for (let i = 0; i < ids.length; i += 8)
      await Promise.all(ids.slice(i, i + 8).map((id) => chat(suite.cluster.url, id)));
    // The spans of every process go out within their short batch delay.
    await settled(suite.collector);
    const exported = ids.filter((id) => spansOf(suite.collector, id).length > 0);
    const partial = exported.flatMap((id) => {
      const spans = spansOf(suite.collector, id);
      const components = componentsOf(spans);
      const traces = new Set(spans.map((span) => span.traceId));
      return components.size === COMPONENTS.length && traces.size === 1 ? [] : [{ id, components: [...components] }];
    });
    expect(partial).toEqual([]);
    // With a ratio of one half, some of the forty are sampled and some are not.
    expect(exported.length).toBeGreaterThan(0);
    expect(exported.length).toBeLessThan(ids.length);
  }, 60_000);

  it('exports nothing of a request whose caller did not sample it, and all of one it did', async () => {
    const caller = '00f067aa0ba902b7';
    const unsampled = Array.from({ length: 6 }, (_, i) => `unsampled-${i}`);
    const sampled = Array.from({ length: 6 }, (_, i) => `sampled-${i}`);
    const traceparent = (i: number, flags: string) =>
      `00-5c${(i + 1).toString(16).padStart(30, '0')}-${caller}-${flags}`;
    await Promise.all([
      ...unsampled.map((id, i) => chat(suite.cluster.url, id, { traceparent: traceparent(i, '00') })),
      ...sampled.map((id, i) => chat(suite.cluster.url, id, { traceparent: traceparent(i + 100, '01') })),
    ]);
    await settled(suite.collector);
    expect(unsampled.flatMap((id) => spansOf(suite.collector, id))).toEqual([]);
    for (const id of sampled)
      expect([...componentsOf(spansOf(suite.collector, id))].sort()).toEqual([...COMPONENTS].sort());
  }, 60_000);
});

describeWithNats('a process that serves over NATS alone, stopped', () => {
  const prompt = 'a story long enough to stop the worker in the middle of';
  const { seed } = longSeed(prompt, 60);
  const suite = exportingCluster(
    [
      { name: 'front', components: 'frontend,processor,router', env: { OTEL_BSP_SCHEDULE_DELAY: '100' } },
      // The worker holds its spans far longer than the test: only its shutdown can send them.
      {
        name: 'worker',
        components: 'worker',
        env: { OTEL_BSP_SCHEDULE_DELAY: '600000', THREADLINE_SHUTDOWN_GRACE_MS: '10000' },
      },
    ],
    // 20 ms a token: the stream below is still running when the worker is told to stop.
    { MOCKER_DECODE_MS_PER_TOKEN: '20' },
  );

  it('sends the spans still in its batch, and those of the calls it drains, when it gets SIGTERM', async () => {
    await chat(suite.cluster.url, 'worker-flush-done');
    const body = completionBody(prompt, { max_tokens: 60, stream: true, seed });
    const reader = await openStream(suite.cluster.url, COMPLETIONS, body, 'worker-flush-drained', 30_000);
    await reader.until((r) => r.dataCount >= 3, 10_000, '3 data events');
    const worker = suite.cluster.get('worker');
    expect(componentsOf(spansOf(suite.collector, 'worker-flush-done')).has('worker')).toBe(false);
    worker.signal('SIGTERM');
    const text = await reader.toEnd(20_000);
    expect(text.trim().endsWith('data: [DONE]'), text.slice(-300)).toBe(true);
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(componentsOf(spansOf(suite.collector, 'worker-flush-done')).has('worker')).toBe(true);
    expect(componentsOf(spansOf(suite.collector, 'worker-flush-drained')).has('worker')).toBe(true);
  }, 60_000);
});
