import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
import { describeWithBrowser, launchChromium } from '../support/browser.js';
import { startSplitPipeline } from '../support/cluster.js';
import type { Cluster } from '../support/cluster.js';
import { describeWithNats } from '../support/nats-server.js';
import { startPipeline } from '../support/pipeline-app.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { CHAT, MODEL, chatBody, request } from '../support/requests.js';
import { waitFor } from '../support/wait-for.js';

interface Summary {
  id: string;
  trace_id: string;
  route: string;
  status: number | null;
  duration_ms: number;
  ttft_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  worker_id: string | null;
}

interface TimelineSpan {
  traceId: string;
  name: string;
  kind: string;
  component: string;
  process: string;
  requestId: string;
  attributes: Record<string, unknown>;
  status?: string;
}

interface Timeline {
  id: string;
  status: number | null;
  trace_id: string;
  other_requests: Array<{ trace_id: string; started_at: string }>;
  worker_id: string | null;
  ttft_ms: number | null;
  spans: TimelineSpan[];
}

const PROMPT = 'the secret words of the timeline';
const PIPELINE = ['frontend', 'processor', 'router', 'worker'];

/** A streamed chat with id `id`, read to its end. */
async function streamedChat(url: string, id: string): Promise<void> {
  const response = await request(url, CHAT, chatBody(PROMPT, { max_tokens: 4, stream: true }), { id });
  expect(response.status).toBe(200);
  await response.text();
}

/** A chat with id `id` for a model not served: refused with a 404. */
async function refusedChat(url: string, id: string): Promise<void> {
  const response = await request(
    url,
    CHAT,
    { model: 'not-served', messages: [{ role: 'user', content: 'x' }] },
    { id },
  );
  expect(response.status).toBe(404);
}

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as T };
}

/** The request's timeline once its HTTP span has ended (it ends as the response closes). */
function timelineOnce(url: string, id: string, components = PIPELINE): Promise<Timeline> {
  return waitFor(async () => {
    const { status, body } = await getJson<Timeline>(`${url}/debug/requests/${encodeURIComponent(id)}`);
    const have = new Set(status === 200 ? body.spans.map((span) => span.component) : []);
    return components.every((component) => have.has(component)) &&
      body.spans.some((s) => s.kind === 'server' && s.name.startsWith('POST '))
      ? body
      : undefined;
  }, 10_000);
}

function expectWholeTimeline(timeline: Timeline, id: string): void {
  expect(new Set(timeline.spans.map((span) => span.component))).toEqual(new Set(PIPELINE));
  for (const span of timeline.spans) expect(span.requestId).toBe(id);
  expect(timeline.status).toBe(200);
  expect(timeline.worker_id).toMatch(/^worker-/);
  expect(timeline.ttft_ms).toBeGreaterThan(0);
  expect(JSON.stringify(timeline)).not.toContain(PROMPT);
}

/** Opens the waterfall page in Chromium and checks what a person would look for on it. */
async function expectWaterfallPage(browser: Browser, url: string, id: string, timeline: Timeline): Promise<void> {
  const page = await browser.newPage();
  try {
    const requested: string[] = [];
    page.on('request', (req) => requested.push(req.url()));
    const response = await page.goto(`${url}/debug/requests/${encodeURIComponent(id)}/view`);
    expect(response?.status()).toBe(200);
    const bars = await page.$$eval('.bar', (elements) =>
      elements.map((element) => ({ component: element.getAttribute('data-component'), text: element.textContent })),
    );
    for (const component of PIPELINE) {
      const bar = bars.find((candidate) => candidate.component === component);
      expect(bar, `a bar for ${component}`).toBeDefined();
      expect(bar!.text).toMatch(new RegExp(`^${component}\\s[\\d.]+ ms$`, 'i'));
    }
    const text = await page.$eval('body', (body) => body.innerText);
    expect(text).toContain(timeline.worker_id!);
    expect(text).toMatch(/TTFT\s+[\d.]+ ms/);
    expect(text).toMatch(/Status\s+200/);
    expect(text).toContain(id);
    expect(text).not.toContain(PROMPT);
    // Self-contained: the page alone, nothing else fetched.
    expect(requested).toEqual([`${url}/debug/requests/${encodeURIComponent(id)}/view`]);
  } finally {
    await page.close();
  }
}

describe('the request timeline, in one process', () => {
  let pipeline: PipelineApp;

  beforeAll(async () => {
    pipeline = await startPipeline({ MOCKER_DECODE_MS_PER_TOKEN: '2' });
  }, 30_000);
  afterAll(() => pipeline.close());

  it('lists a streamed chat with its TTFT and token counts, and no text', async () => {
    await streamedChat(pipeline.url, 'timeline-list-1');
    const listed = await waitFor(async () => {
      const { body } = await getJson<{ data: Summary[] }>(`${pipeline.url}/debug/requests?limit=5`);
      return body.data.find((summary) => summary.id === 'timeline-list-1');
    });
    expect(listed).toMatchObject({
      route: 'POST /v1/chat/completions',
      status: 200,
      completion_tokens: 4,
      prompt_tokens: expect.any(Number) as number,
      worker_id: expect.stringMatching(/^worker-/) as string,
    });
    expect(listed.ttft_ms).toBeGreaterThan(0);
    expect(listed.ttft_ms).toBeLessThanOrEqual(listed.duration_ms);
    const { body } = await getJson<{ data: Summary[] }>(`${pipeline.url}/debug/requests`);
    // Newest first; the debug routes' own requests are not listed.
    expect(body.data[0]!.id).toBe('timeline-list-1');
    expect(body.data.every((summary) => !summary.route.includes('/debug/'))).toBe(true);
    expect(JSON.stringify(body)).not.toContain(PROMPT);
  });

  it('lists a request its client left before the answer under 499, as the metrics count it; its span says 499, and holds no status never sent', async () => {
    const leaving = new AbortController();
    const sent = fetch(`${pipeline.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'timeline-gone-1' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'leave' }], max_tokens: 2000 }),
      signal: leaving.signal,
    });
    setTimeout(() => leaving.abort(), 100);
    await expect(sent).rejects.toThrow();
    const listed = await waitFor(async () => {
      const { body } = await getJson<{ data: Summary[] }>(`${pipeline.url}/debug/requests?limit=5`);
      return body.data.find((summary) => summary.id === 'timeline-gone-1');
    });
    expect(listed.status).toBe(499);
    const { body } = await getJson<Timeline>(`${pipeline.url}/debug/requests/timeline-gone-1`);
    expect(body.status).toBe(499);
    const http = body.spans.find((span) => span.component === 'frontend' && span.kind === 'server');
    // What an OTLP backend gets: the outcome is on the span, written before the client's leaving ended it.
    expect(http?.attributes).toMatchObject({ 'threadline.cancelled': true, 'threadline.status': 499 });
    expect(http?.attributes).not.toHaveProperty('http.response.status_code');
    expect(http?.attributes).not.toHaveProperty('threadline.usage.completion_tokens');
  });

  it('returns the spans of every component of the request', async () => {
    await streamedChat(pipeline.url, 'timeline-spans-1');
    const timeline = await timelineOnce(pipeline.url, 'timeline-spans-1');
    expectWholeTimeline(timeline, 'timeline-spans-1');
    const router = timeline.spans.find((span) => span.name === 'router.route' && span.kind === 'server')!;
    expect(router.attributes['threadline.router.worker_id']).toBe(timeline.worker_id);
  });

  it("finds a request by an id of the policy's longest, slashes and all", async () => {
    const id = 'a/'.repeat(64); // 128 characters, 256 in the path once encoded
    await streamedChat(pipeline.url, id);
    expectWholeTimeline(await timelineOnce(pipeline.url, id), id);
    expect((await fetch(`${pipeline.url}/debug/requests/${encodeURIComponent(id)}/view`)).status).toBe(200);
  });

  it('answers an unknown id with a 404 and an OpenAI error body', async () => {
    const { status, body } = await getJson<{ error: { type: string; code: string; message: string } }>(
      `${pipeline.url}/debug/requests/never-seen`,
    );
    expect(status).toBe(404);
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'not_found' });
    expect(body.error.message).toContain('never-seen');
    const page = await fetch(`${pipeline.url}/debug/requests/${encodeURIComponent('<b>x</b>')}/view`);
    expect(page.status).toBe(404);
    const html = await page.text();
    expect(html).toContain('&#60;b&#62;x&#60;/b&#62;');
    expect(html).not.toContain('<b>x</b>');
  });

  it('refuses a bad limit', async () => {
    expect((await fetch(`${pipeline.url}/debug/requests?limit=lots`)).status).toBe(400);
  });

  it('two requests sent with one id are two lines; the id shows the newest, `?trace=` the other', async () => {
    const id = 'timeline-reused-1';
    await streamedChat(pipeline.url, id);
    await refusedChat(pipeline.url, id);
    const lines = await waitFor(async () => {
      const { body } = await getJson<{ data: Summary[] }>(`${pipeline.url}/debug/requests?limit=10`);
      const ofId = body.data.filter((summary) => summary.id === id);
      return ofId.length === 2 ? ofId : undefined;
    });
    expect(lines.map((line) => line.status)).toEqual([404, 200]);
    expect(lines[0]!.trace_id).not.toBe(lines[1]!.trace_id);
    const newest = (await getJson<Timeline>(`${pipeline.url}/debug/requests/${id}`)).body;
    expect(newest).toMatchObject({ status: 404, trace_id: lines[0]!.trace_id });
    expect(newest.other_requests.map((other) => other.trace_id)).toEqual([lines[1]!.trace_id]);
    expect(new Set(newest.spans.map((span) => span.traceId))).toEqual(new Set([newest.trace_id]));
    expect(newest.spans.some((span) => span.component === 'worker')).toBe(false);
    const first = (await getJson<Timeline>(`${pipeline.url}/debug/requests/${id}?trace=${lines[1]!.trace_id}`)).body;
    expectWholeTimeline(first, id);
    expect(first.other_requests.map((other) => other.trace_id)).toEqual([lines[0]!.trace_id]);
    expect((await fetch(`${pipeline.url}/debug/requests/${id}?trace=${'0'.repeat(32)}`)).status).toBe(404);
    expect((await fetch(`${pipeline.url}/debug/requests/${id}?trace=nope`)).status).toBe(400);
  });

  it('keeps no CORS preflight: they would push the requests out of the ring', async () => {
    const preflight = await fetch(`${pipeline.url}${CHAT}`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'POST',
        'x-request-id': 'timeline-preflight-1',
      },
    });
    expect(preflight.status).toBe(204);
    await streamedChat(pipeline.url, 'timeline-after-preflight-1');
    const { body } = await getJson<{ data: Summary[] }>(`${pipeline.url}/debug/requests?limit=1000`);
    expect(body.data.map((summary) => summary.id)).toContain('timeline-after-preflight-1');
    expect(body.data.map((summary) => summary.id)).not.toContain('timeline-preflight-1');
    expect((await fetch(`${pipeline.url}/debug/requests/timeline-preflight-1`)).status).toBe(404);
  });

  describeWithBrowser('in Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchChromium();
    }, 30_000);
    afterAll(() => browser?.close());

    it('the waterfall shows a bar per component, the worker and the TTFT', async () => {
      await streamedChat(pipeline.url, 'timeline-view-1');
      const timeline = await timelineOnce(pipeline.url, 'timeline-view-1');
      await expectWaterfallPage(browser, pipeline.url, 'timeline-view-1', timeline);
    }, 30_000);

    it('the page of a reused id shows its newest request and links to the other', async () => {
      const id = 'timeline-view-reused-1';
      await streamedChat(pipeline.url, id);
      await timelineOnce(pipeline.url, id);
      await refusedChat(pipeline.url, id);
      const page = await browser.newPage();
      try {
        await waitFor(async () => {
          await page.goto(`${pipeline.url}/debug/requests/${id}/view`);
          return /Status\s+404/.exec(await page.$eval('body', (body) => body.innerText)) ?? undefined;
        });
        await Promise.all([page.waitForNavigation(), page.click('#other-requests a')]);
        const text = await page.$eval('body', (body) => body.innerText);
        expect(text).toMatch(/Status\s+200/);
        expect(page.url()).toMatch(new RegExp(`/debug/requests/${id}/view\\?trace=[0-9a-f]{32}$`));
      } finally {
        await page.close();
      }
    }, 30_000);
  });
});

describe('the request timeline, of a stream that fails after its 200 head', () => {
  let pipeline: PipelineApp;

  beforeAll(async () => {
    pipeline = await startPipeline({ MOCKER_DECODE_MS_PER_TOKEN: '20', THREADLINE_REQUEST_TIMEOUT_MS: '300' });
  }, 30_000);
  afterAll(() => pipeline.close());

  it("lists it under its error event's status, as the metrics count it; its HTTP span failed, its head's 200 kept", async () => {
    const res = await request(
      pipeline.url,
      '/v1/completions',
      { model: MODEL, prompt: 'a long story', max_tokens: 4000, stream: true, seed: 1 },
      { id: 'timeline-late-504' },
    );
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('"code":"deadline_exceeded"');
    const listed = await waitFor(async () => {
      const { body } = await getJson<{ data: Summary[] }>(`${pipeline.url}/debug/requests?limit=5`);
      return body.data.find((summary) => summary.id === 'timeline-late-504');
    });
    expect(listed.status).toBe(504);
    const { body } = await getJson<Timeline>(`${pipeline.url}/debug/requests/timeline-late-504`);
    expect(body.status).toBe(504);
    const http = body.spans.find((span) => span.component === 'frontend' && span.kind === 'server');
    expect(http?.status).toBe('error');
    expect(http?.attributes).toMatchObject({ 'http.response.status_code': 200, 'threadline.status': 504 });
  });
});

describe('the request timeline keeps the most recent requests', () => {
  let pipeline: PipelineApp;

  beforeAll(async () => {
    pipeline = await startPipeline({ THREADLINE_TIMELINE_REQUESTS: '3' });
  }, 30_000);
  afterAll(() => pipeline.close());

  it('with room for three, of five requests the first two are gone whole', async () => {
    for (let i = 1; i <= 5; i++) {
      await streamedChat(pipeline.url, `timeline-ring-${i}`);
      await timelineOnce(pipeline.url, `timeline-ring-${i}`);
    }
    const { body } = await getJson<{ data: Summary[] }>(`${pipeline.url}/debug/requests?limit=10`);
    expect(body.data.map((summary) => summary.id)).toEqual(['timeline-ring-5', 'timeline-ring-4', 'timeline-ring-3']);
    for (const gone of ['timeline-ring-1', 'timeline-ring-2'])
      expect((await fetch(`${pipeline.url}/debug/requests/${gone}`)).status).toBe(404);
    expect((await fetch(`${pipeline.url}/debug/requests/timeline-ring-3`)).status).toBe(200);
  });
});

describe('the request timeline, off', () => {
  let pipeline: PipelineApp;

  beforeAll(async () => {
    pipeline = await startPipeline({ THREADLINE_DEBUG_ROUTES: 'false' });
  }, 30_000);
  afterAll(() => pipeline.close());

  it('serves no debug route', async () => {
    await streamedChat(pipeline.url, 'timeline-off-1');
    for (const path of ['/debug/requests', '/debug/requests/timeline-off-1', '/debug/requests/timeline-off-1/view'])
      expect((await fetch(`${pipeline.url}${path}`)).status, path).toBe(404);
  });
});

describeWithNats('the request timeline over NATS, one process per part of the pipeline', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startSplitPipeline(['worker'], { common: { MOCKER_DECODE_MS_PER_TOKEN: '2' } });
  }, 120_000);
  afterAll(() => cluster?.stop(), 30_000);

  it('gathers the spans of a request from every process', async () => {
    await streamedChat(cluster.url, 'timeline-nats-1');
    const timeline = await timelineOnce(cluster.url, 'timeline-nats-1');
    expectWholeTimeline(timeline, 'timeline-nats-1');
    const processOf = (component: string) => timeline.spans.find((span) => span.component === component)!.process;
    expect(new Set(PIPELINE.map(processOf)).size).toBe(3);
    expect(processOf('processor')).toBe(processOf('router'));
    const { body } = await getJson<{ data: Summary[] }>(`${cluster.url}/debug/requests?limit=3`);
    const listed = body.data.find((summary) => summary.id === 'timeline-nats-1');
    expect(listed).toMatchObject({ completion_tokens: 4, worker_id: timeline.worker_id });
    expect(listed!.ttft_ms).toBeGreaterThan(0);
  });

  it('answers an id no process knows with a 404', async () => {
    expect((await fetch(`${cluster.url}/debug/requests/nobody-knows`)).status).toBe(404);
  });

  describeWithBrowser('in Chromium', () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchChromium();
    }, 30_000);
    afterAll(() => browser?.close());

    it('the waterfall gathered from every process shows each component, the worker and the TTFT', async () => {
      await streamedChat(cluster.url, 'timeline-nats-view');
      const timeline = await timelineOnce(cluster.url, 'timeline-nats-view');
      await expectWaterfallPage(browser, cluster.url, 'timeline-nats-view', timeline);
    }, 30_000);
  });
});
