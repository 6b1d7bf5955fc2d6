import { describe, expect, it } from 'vitest';
import { parseSamples, sumOf } from '../../../test/support/metrics-text.js';
import { MockerEngine } from '../../llm/worker/mocker/mocker.engine.js';
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from './exposition.js';
import { MetricsService } from './metrics.service.js';

const MODEL = 'threadline-mocker';
const usage = { type: 'usage', promptTokens: 12, completionTokens: 5, cachedTokens: 4 } as const;

/** Meters one request that produced text and usage, and ends it with `status`. */
function meterRequest(metrics: MetricsService, requestId: string, status = 200): void {
  const meter = metrics.frontend.start(MODEL, 'chat_completions', requestId);
  meter.event({ type: 'accepted', n: 1 });
  meter.event({ type: 'text' });
  meter.event({ type: 'text' });
  meter.event(usage);
  meter.end(status);
}

describe('MetricsService', () => {
  it('meters a request: in flight until it ends, its status, latencies and tokens; a second end changes nothing', async () => {
    const metrics = new MetricsService();
    const meter = metrics.frontend.start(MODEL, 'completions', 'req-a');
    let samples = parseSamples((await metrics.render(false)).body);
    expect(sumOf(samples, 'threadline_inflight_requests', { model: MODEL })).toBe(1);
    meter.event({ type: 'accepted', n: 1 });
    meter.event({ type: 'text' });
    meter.event(usage);
    meter.end(200);
    meter.end(500);
    samples = parseSamples((await metrics.render(false)).body);
    const labels = { model: MODEL, endpoint: 'completions' };
    expect(sumOf(samples, 'threadline_inflight_requests')).toBe(0);
    expect(sumOf(samples, 'threadline_requests_total', { ...labels, status: '200' })).toBe(1);
    expect(sumOf(samples, 'threadline_requests_total')).toBe(1);
    expect(sumOf(samples, 'threadline_time_to_first_token_seconds_count', labels)).toBe(1);
    expect(sumOf(samples, 'threadline_inter_token_latency_seconds_count', labels)).toBe(1);
    expect(sumOf(samples, 'threadline_request_duration_seconds_count', labels)).toBe(1);
    expect(sumOf(samples, 'threadline_input_tokens_total', { model: MODEL })).toBe(12);
    expect(sumOf(samples, 'threadline_output_tokens_total', { model: MODEL })).toBe(5);
    expect(sumOf(samples, 'threadline_cached_tokens_total', { model: MODEL })).toBe(4);
  });

  it('observes no time to first token for a request refused before any text, but counts it by status', async () => {
    const metrics = new MetricsService();
    metrics.frontend.start(MODEL, 'chat_completions', 'bad').end(400);
    const samples = parseSamples((await metrics.render(false)).body);
    expect(sumOf(samples, 'threadline_requests_total', { status: '400' })).toBe(1);
    expect(sumOf(samples, 'threadline_time_to_first_token_seconds_count')).toBe(0);
    expect(sumOf(samples, 'threadline_request_duration_seconds_count')).toBe(1);
  });

  it('names counters right in both formats, whichever came first, and shows exemplars in OpenMetrics only', async () => {
    const metrics = new MetricsService();
    meterRequest(metrics, 'req-exemplar');
    const renders = await Promise.all([false, true, false, true].map((openMetrics) => metrics.render(openMetrics)));
    for (const [index, { contentType, body }] of renders.entries()) {
      const openMetrics = index % 2 === 1;
      expect(contentType).toBe(openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE);
      expect(body).toContain(
        '\nthreadline_requests_total{model="threadline-mocker",endpoint="chat_completions",status="200"} 1',
      );
      expect(body).toContain(
        openMetrics ? '# TYPE threadline_requests counter' : '# TYPE threadline_requests_total counter',
      );
      expect(body.endsWith('# EOF\n')).toBe(openMetrics);
      const exemplars = parseSamples(body).filter((sample) => sample.exemplar !== undefined);
      if (!openMetrics) expect(exemplars).toEqual([]);
      else {
        // Time to first token, inter-token latency, duration: one bucket of each holds the request's exemplar.
        expect(exemplars.map((sample) => sample.name).sort()).toEqual([
          'threadline_inter_token_latency_seconds_bucket',
          'threadline_request_duration_seconds_bucket',
          'threadline_time_to_first_token_seconds_bucket',
        ]);
        for (const sample of exemplars) expect(sample.exemplar!.labels).toEqual({ request_id: 'req-exemplar' });
      }
    }
  });

  it("registers each part on first use: a worker process shows only the workers' metrics", async () => {
    const metrics = new MetricsService();
    expect((await metrics.render(false)).body.trim()).toBe('');
    metrics.worker('worker-1');
    const { body } = await metrics.render(false);
    expect(body).toContain('threadline_worker_prefix_cache_lookups_total{worker_id="worker-1"} 0');
    expect(body).not.toContain('threadline_requests_total');
    expect(body).not.toContain('threadline_router_decisions_total');
  });

  it("counts the router's decisions by worker and policy", async () => {
    const metrics = new MetricsService();
    metrics.router.decision('worker-1', 'kv');
    metrics.router.decision('worker-1', 'kv');
    metrics.router.decision('worker-2', 'kv');
    const samples = parseSamples((await metrics.render(false)).body);
    expect(sumOf(samples, 'threadline_router_decisions_total', { worker_id: 'worker-1', policy: 'kv' })).toBe(2);
    expect(sumOf(samples, 'threadline_router_decisions_total', { worker_id: 'worker-2', policy: 'kv' })).toBe(1);
    // A worker gone (a restart gives its successor another id) takes its series with it.
    metrics.router.retain(['worker-2']);
    const after = (await metrics.render(false)).body;
    expect(after).not.toContain('worker_id="worker-1"');
    expect(sumOf(parseSamples(after), 'threadline_router_decisions_total', { worker_id: 'worker-2' })).toBe(1);
  });

  it("reads a mocker worker's load when scraped, and counts its prefix cache blocks and its refusals", async () => {
    const metrics = new MetricsService();
    const config = {
      prefillUsPerToken: 0,
      decodeMsPerToken: 0,
      maxRunning: 1,
      maxWaiting: 0,
      blockSize: 4,
      kvBlocks: 64,
    };
    const engine = new MockerEngine(config, 'worker-7', undefined, metrics.worker('worker-7'));
    const labels = { worker_id: 'worker-7' };
    const prompt = {
      tokenIds: Array.from({ length: 16 }, (_, i) => i),
      maxTokens: 2,
      temperature: 0,
      seed: 0,
      original: {},
    };
    const signal = new AbortController().signal;
    for await (const _ of engine.generate(prompt, signal)) void _;
    const running = engine.generate(prompt, signal)[Symbol.asyncIterator]();
    await running.next(); // admitted: it holds the only slot
    const refused = engine.generate(prompt, signal)[Symbol.asyncIterator]();
    await expect(refused.next()).rejects.toMatchObject({ status: 429 });
    const samples = parseSamples((await metrics.render(false)).body);
    expect(sumOf(samples, 'threadline_worker_running_sequences', labels)).toBe(1);
    expect(sumOf(samples, 'threadline_worker_waiting_sequences', labels)).toBe(0);
    expect(sumOf(samples, 'threadline_worker_kv_cache_usage_ratio', labels)).toBe(4 / 64);
    // The first prompt found none of its 4 blocks; the second is not computed yet.
    expect(sumOf(samples, 'threadline_worker_prefix_cache_lookups_total', labels)).toBe(4);
    expect(sumOf(samples, 'threadline_worker_prefix_cache_hits_total', labels)).toBe(0);
    expect(sumOf(samples, 'threadline_worker_rejections_total', { ...labels, reason: 'queue_full' })).toBe(1);
    for (let next = await running.next(); !next.done; next = await running.next());
    const after = parseSamples((await metrics.render(false)).body);
    expect(sumOf(after, 'threadline_worker_prefix_cache_lookups_total', labels)).toBe(8);
    expect(sumOf(after, 'threadline_worker_prefix_cache_hits_total', labels)).toBe(4);
    expect(sumOf(after, 'threadline_worker_running_sequences', labels)).toBe(0);
  });
});
