import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forRequest, nats, spawnTracked, startCluster, warmUp } from '../support/cluster.js';
import type { Cluster } from '../support/cluster.js';
import { familyTypes, parseSamples, sumOf } from '../support/metrics-text.js';
import type { Sample } from '../support/metrics-text.js';
import { describeWithNats } from '../support/nats-server.js';
import type { ChatChunk, ChatCompletion, Usage } from '../support/openai-api.js';
import { startPipeline } from '../support/pipeline-app.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { checkMetrics, itWithPromtool } from '../support/promtool.js';
import { CHAT, MODEL, chatBody, request, send } from '../support/requests.js';
import { serviceChunks } from '../support/sse.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Prometheus metrics (docs/configuration.md, "Metrics"): `GET /metrics` on the service after streamed
 * and non-streamed requests and a refused one, OpenMetrics with the request ids as exemplars, and a
 * NATS worker process serving its own at METRICS_PORT. promtool (Debian's `prometheus` package) checks
 * the real output; without it those checks are skipped, or fail when THREADLINE_REQUIRE_TOOLS=1 (as in CI).
 */

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';
const OPENMETRICS_TEXT = 'application/openmetrics-text; version=1.0.0; charset=utf-8';
const OPENMETRICS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

async function scrape(url: string, accept?: string): Promise<{ contentType: string | null; text: string }> {
  const res = await fetch(url, { headers: accept === undefined ? {} : { accept } });
  expect(res.status).toBe(200);
  return { contentType: res.headers.get('content-type'), text: await res.text() };
}

/** Long enough for a few KV blocks (of 16 tokens), so that the workers look some up. */
const FILLER = 'the quick brown fox jumps over the lazy dog '.repeat(6);

/** A chat request, streamed (with its usage chunk) or not; returns its `usage`. */
async function chat(url: string, id: string, stream: boolean, headers: Record<string, string> = {}): Promise<Usage> {
  const body = chatBody(`metrics request ${id}: ${FILLER}`, {
    max_tokens: 6,
    ...(stream ? { stream, stream_options: { include_usage: true } } : {}),
  });
  const res = await send(url, CHAT, body, { id, headers });
  expect(res.status, res.text).toBe(200);
  if (!stream) return (JSON.parse(res.text) as ChatCompletion).usage;
  const last = serviceChunks<ChatChunk & { usage?: Usage }>(res.text).at(-1);
  expect(last?.usage).toBeDefined();
  return last!.usage!;
}

describe('a request whose client leaves before its response is complete', () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline({ MOCKER_DECODE_MS_PER_TOKEN: '50' });
  });
  afterAll(() => pipeline?.close());

  it('is counted under status 499, streamed or not, leaves nothing in flight, and counts no tokens: it got no usage', async () => {
    const cases = [
      { path: CHAT, body: chatBody('leave early', { max_tokens: 100 }), endpoint: 'chat_completions' },
      { path: CHAT, body: chatBody('leave early', { max_tokens: 100, stream: true }), endpoint: 'chat_completions' },
      {
        path: '/v1/responses',
        body: { model: MODEL, input: 'leave early', max_output_tokens: 100, stream: true },
        endpoint: 'responses',
      },
    ];
    for (const [i, { path, body }] of cases.entries()) {
      const leaving = new AbortController();
      const sent = fetch(`${pipeline.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': `metrics-gone-${i}` },
        body: JSON.stringify(body),
        signal: leaving.signal,
      });
      if (body.stream === true) {
        // The head and the first bytes come at once; the client leaves while the tokens come.
        await (await sent).body!.getReader().read();
        await new Promise((resolve) => setTimeout(resolve, 200));
        leaving.abort();
      } else {
        setTimeout(() => leaving.abort(), 300);
        await expect(sent).rejects.toThrow();
      }
    }
    const samples = await waitFor(async () => {
      const scraped = parseSamples((await scrape(`${pipeline.url}/metrics`)).text);
      return sumOf(scraped, 'threadline_inflight_requests', { model: MODEL }) === 0 ? scraped : undefined;
    });
    for (const endpoint of ['chat_completions', 'responses']) {
      const expected = cases.filter((one) => one.endpoint === endpoint).length;
      expect(sumOf(samples, 'threadline_requests_total', { model: MODEL, endpoint, status: '499' })).toBe(expected);
      expect(sumOf(samples, 'threadline_requests_total', { model: MODEL, endpoint })).toBe(expected);
    }
    for (const tokens of ['threadline_input_tokens_total', 'threadline_output_tokens_total'])
      expect(sumOf(samples, tokens, { model: MODEL })).toBe(0);
    expect(sumOf(samples, 'threadline_inter_token_latency_seconds_count', { model: MODEL })).toBe(0);
    // And each one's lines end with the access line that says so.
    for (const i of cases.keys())
      expect(pipeline.logs.forRequest(`metrics-gone-${i}`).map((line) => line.msg)).toContain('request aborted');
  });
});

describe('GET /metrics on the service (one process)', () => {
  let pipeline: PipelineApp;
  const usages: Usage[] = [];
  const ids = Array.from({ length: 6 }, (_, i) => `metrics-${i}`);

  beforeAll(async () => {
    pipeline = await startPipeline();
    for (const [i, id] of ids.entries()) usages.push(await chat(pipeline.url, id, i % 2 === 1));
    const refused = await send(pipeline.url, CHAT, { model: MODEL }, { id: 'metrics-bad' });
    expect(refused.status).toBe(400);
  });
  afterAll(() => pipeline?.close());

  it('answers Prometheus text by default: one TTFT per request, the tokens of the responses, statuses with the 400', async () => {
    const { contentType, text } = await scrape(`${pipeline.url}/metrics`);
    expect(contentType).toBe(PROMETHEUS_TEXT);
    const samples = parseSamples(text);
    const chatLabels = { model: MODEL, endpoint: 'chat_completions' };
    expect(sumOf(samples, 'threadline_time_to_first_token_seconds_count', chatLabels)).toBe(ids.length);
    expect(sumOf(samples, 'threadline_inter_token_latency_seconds_count', chatLabels)).toBe(ids.length);
    expect(sumOf(samples, 'threadline_request_duration_seconds_count', chatLabels)).toBe(ids.length + 1);
    expect(sumOf(samples, 'threadline_requests_total', { ...chatLabels, status: '200' })).toBe(ids.length);
    expect(sumOf(samples, 'threadline_requests_total', { ...chatLabels, status: '400' })).toBe(1);
    expect(sumOf(samples, 'threadline_inflight_requests', { model: MODEL })).toBe(0);
    const total = (pick: (usage: Usage) => number) => usages.reduce((sum, usage) => sum + pick(usage), 0);
    expect(sumOf(samples, 'threadline_input_tokens_total', { model: MODEL })).toBe(total((u) => u.prompt_tokens));
    expect(sumOf(samples, 'threadline_output_tokens_total', { model: MODEL })).toBe(total((u) => u.completion_tokens));
    expect(sumOf(samples, 'threadline_cached_tokens_total', { model: MODEL })).toBe(
      total((u) => u.prompt_tokens_details.cached_tokens),
    );
    // Every request was routed once, and looked its prompt up in one worker's KV cache.
    expect(sumOf(samples, 'threadline_router_decisions_total', { policy: 'kv' })).toBe(ids.length);
    expect(sumOf(samples, 'threadline_worker_prefix_cache_lookups_total')).toBeGreaterThan(0);
    for (const name of ['threadline_worker_running_sequences', 'threadline_worker_waiting_sequences'])
      expect(sumOf(samples, name)).toBe(0);
    expect(samples.filter((s) => s.name === 'threadline_worker_kv_cache_usage_ratio')).toHaveLength(2);
  });

  it('labels carry no prompt or completion text', async () => {
    const { text } = await scrape(`${pipeline.url}/metrics`);
    const values = parseSamples(text).flatMap((sample) => Object.values(sample.labels));
    expect(values.filter((value) => value.includes('metrics request') || value.includes('fox'))).toEqual([]);
    const names = new Set(parseSamples(text).flatMap((sample) => Object.keys(sample.labels)));
    expect(
      [...names].filter(
        (name) => !['model', 'endpoint', 'status', 'le', 'worker_id', 'reason', 'policy'].includes(name),
      ),
    ).toEqual([]);
  });

  it('answers OpenMetrics when the scraper asks for it, the latency buckets holding request ids (and trace ids) as exemplars', async () => {
    await chat(pipeline.url, 'metrics-traced', false, { traceparent: TRACEPARENT });
    const { contentType, text } = await scrape(`${pipeline.url}/metrics`, OPENMETRICS_ACCEPT);
    expect(contentType).toBe(OPENMETRICS_TEXT);
    expect(text.endsWith('# EOF\n')).toBe(true);
    expect(familyTypes(text).get('threadline_requests')).toBe('counter');
    const exemplars = parseSamples(text).filter((sample) => sample.exemplar !== undefined);
    const families = ['time_to_first_token', 'inter_token_latency', 'request_duration'];
    for (const family of families) {
      const own = exemplars.filter((s) => s.name === `threadline_${family}_seconds_bucket`);
      expect(own.length, family).toBeGreaterThan(0);
      for (const sample of own)
        expect([...ids, 'metrics-traced', 'metrics-bad']).toContain(sample.exemplar!.labels.request_id);
    }
    // The last request observed: its bucket of each histogram holds its exemplar, with its trace.
    const traced = exemplars.filter((s) => s.exemplar!.labels.request_id === 'metrics-traced');
    expect(traced.map((s) => s.name).sort()).toEqual(families.map((f) => `threadline_${f}_seconds_bucket`).sort());
    for (const sample of traced) expect(sample.exemplar!.labels.trace_id).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  itWithPromtool('promtool check metrics passes on its output', async () => {
    const { text } = await scrape(`${pipeline.url}/metrics`);
    expect(checkMetrics(text)).toEqual({ ok: true, output: '' });
  });
});

describe('METRICS_PORT', () => {
  it('a bad value stops start-up, naming the variable', async () => {
    const service = spawnTracked('bad-metrics-port', { METRICS_PORT: 'nine' });
    const exit = await service.exited;
    expect(exit.code).toBe(1);
    expect(service.stderr()).toContain(
      'Invalid configuration: METRICS_PORT must be a port number from 0 to 65535, got "nine"',
    );
  }, 60_000);

  it('a Frontend whose port is taken exits, though its METRICS_PORT server had started', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const service = spawnTracked('port-taken', { PORT: String(port), METRICS_PORT: '0' });
    try {
      const exit = await Promise.race([
        service.exited,
        new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 30_000)),
      ]);
      expect(exit).toEqual({ code: 1, signal: null });
      expect(service.stderr()).toContain('EADDRINUSE');
    } finally {
      await service.stop();
      taken.close();
    }
  }, 60_000);
});

describeWithNats('METRICS_PORT on a NATS worker process (frontend,processor,router | worker)', () => {
  let cluster: Cluster;
  let workerMetrics: string;

  beforeAll(async () => {
    const server = await nats();
    cluster = await startCluster(server, [
      { name: 'front', components: 'frontend,processor,router' },
      { name: 'worker', components: 'worker', env: { THREADLINE_WORKERS: '1', METRICS_PORT: '0' } },
    ]);
    await warmUp(cluster, ['worker']);
    const line = await cluster
      .get('worker')
      .waitForLine(
        (l) => l.context === 'Metrics' && String(l.msg).startsWith('metrics at '),
        10_000,
        'the "metrics at" line',
      );
    workerMetrics = /^metrics at (http:\/\/\S+)$/.exec(String(line.msg))![1]!;
    for (const i of [0, 1, 2]) await chat(cluster.url, `nats-metrics-${i}`, i === 1);
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it("serves the worker's metrics at METRICS_PORT: its own, under its instance id", async () => {
    const workerId = cluster.get('worker').instanceIds[0]!;
    expect(forRequest(cluster.get('worker'), 'nats-metrics-0').length).toBeGreaterThan(0);
    const { contentType, text } = await scrape(workerMetrics);
    expect(contentType).toBe(PROMETHEUS_TEXT);
    const samples = parseSamples(text);
    const labels = { worker_id: workerId };
    expect(sumOf(samples, 'threadline_worker_prefix_cache_lookups_total', labels)).toBeGreaterThan(0);
    expect(
      samples.some((s: Sample) => s.name === 'threadline_worker_running_sequences' && s.labels.worker_id === workerId),
    ).toBe(true);
    expect(
      samples.some((s) => s.name.startsWith('threadline_requests') || s.name.startsWith('threadline_router')),
    ).toBe(false);
    // The frontend's process counts the requests and the Router's choices of this worker.
    const front = parseSamples((await scrape(`${cluster.url}/metrics`)).text);
    expect(sumOf(front, 'threadline_router_decisions_total', labels)).toBeGreaterThanOrEqual(3);
    expect(sumOf(front, 'threadline_time_to_first_token_seconds_count')).toBeGreaterThanOrEqual(3);
  });

  it('answers OpenMetrics there too when asked, and nothing but /metrics and the probes', async () => {
    const { contentType, text } = await scrape(workerMetrics, 'application/openmetrics-text');
    expect(contentType).toBe(OPENMETRICS_TEXT);
    expect(text.endsWith('# EOF\n')).toBe(true);
    expect((await fetch(workerMetrics.replace(/\/metrics$/, '/other'))).status).toBe(404);
    expect((await request(workerMetrics, '', undefined, { method: 'POST' })).status).toBe(405);
  });

  itWithPromtool("promtool check metrics passes on the worker's and the frontend's output", async () => {
    for (const url of [workerMetrics, `${cluster.url}/metrics`]) {
      const { text } = await scrape(url);
      expect(checkMetrics(text), url).toEqual({ ok: true, output: '' });
    }
  });
});
