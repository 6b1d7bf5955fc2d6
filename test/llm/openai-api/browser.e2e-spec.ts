import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithBrowser, launchChromium } from '../../support/browser.js';
import { waitForCompletion } from '../../support/access-lines.js';
import { waitForLine } from '../../support/log-capture.js';
import type { LogLine } from '../../support/log-capture.js';
import { startPipeline } from '../../support/pipeline-app.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { CHAT, chatBody, request } from '../../support/requests.js';
import { serviceChunks } from '../../support/sse.js';

/**
 * A web page on another origin (the test's own server, on another port) calls the service from headless
 * Chromium: it streams a chat completion with `fetch`, as the `openai` client does in a browser, and reads
 * the text and the `x-request-id` header. Where its origin is not allowed, the browser stops it.
 */

interface ChatChunk {
  choices: Array<{ delta: { content?: string } }>;
}

/** What the page got: the streamed text and the id header, or the error `fetch` threw. */
type PageResult = { text: string; requestId: string | null; status: number } | { error: string };

/**
 * The page: `streamChat()` sends the request with the headers the `openai` client sends from a browser,
 * reads the SSE body as it arrives and joins the deltas. Nothing is loaded from elsewhere.
 */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>chat</title></head><body>
<script>
async function streamChat(url, body, id) {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: 'Bearer sk-page',
        'x-request-id': id,
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'x-stainless-lang': 'js',
        'x-stainless-os': 'Unknown',
        'x-stainless-arch': 'unknown',
        'x-stainless-runtime': 'browser:chrome',
        'x-stainless-retry-count': '0',
      },
      body: JSON.stringify(body),
    });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let sse = '';
    for (let next = await reader.read(); !next.done; next = await reader.read()) sse += decoder.decode(next.value, { stream: true });
    let text = '';
    for (const line of sse.split('\\n')) {
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      text += JSON.parse(line.slice(6)).choices[0]?.delta?.content ?? '';
    }
    return { text, requestId: res.headers.get('x-request-id'), status: res.status };
  } catch (error) {
    return { error: String(error) };
  }
}
</script></body></html>`;

/**
 * A page that loads the official `openai` client (its ES modules, served by the page's server from this
 * repository's node_modules) and streams a chat completion with it.
 */
const CLIENT_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>openai client</title></head><body>
<script type="module">
import OpenAI from '/openai/index.mjs';
window.clientChat = async (baseURL, body, id) => {
  try {
    const client = new OpenAI({ baseURL, apiKey: 'sk-page', dangerouslyAllowBrowser: true, maxRetries: 0 });
    const { data: stream, request_id } = await client.chat.completions
      .create(body, { headers: { 'X-Request-Id': id } })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    return { text, requestId: request_id, status: 200 };
  } catch (error) {
    return { error: String(error) };
  }
};
window.clientReady = true;
</script></body></html>`;

const OPENAI_DIR = dirname(createRequire(import.meta.url).resolve('openai'));

/** Serves the pages (and the client's modules) on a loopback port of its own: another origin than the service's. */
async function servePage(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://page').pathname;
    if (path.startsWith('/openai/')) {
      const file = resolve(OPENAI_DIR, `.${path.slice('/openai'.length)}`);
      if (!file.startsWith(`${OPENAI_DIR}/`) || !/\.m?js$/.test(file) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      // The ES modules import one Node-only CommonJS module, which a bundler would wrap: served empty,
      // it leaves the client to take its browser fallback, as it does in a bundle.
      res.end(file.endsWith('.mjs') ? readFileSync(file) : 'export {};\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(path === '/client' ? CLIENT_PAGE : PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const BODY = chatBody('Tell me about the sea.', { max_tokens: 12, seed: 5, stream: true });

/** The same request's text as Node gets it (no Origin, no CORS): the mocker's text for it. */
async function nodeText(url: string): Promise<string> {
  const res = await request(url, CHAT, BODY);
  return serviceChunks<ChatChunk>(await res.text())
    .map((chunk) => chunk.choices[0]?.delta.content ?? '')
    .join('');
}

function isOptions(line: LogLine): boolean {
  return (line.req as { method?: string } | undefined)?.method === 'OPTIONS';
}

function streamFromPage(page: Page, url: string, id: string): Promise<PageResult> {
  return page.evaluate(
    (target, body, requestId) =>
      (window as unknown as { streamChat(u: string, b: object, i: string): Promise<PageResult> }).streamChat(
        target,
        body,
        requestId,
      ),
    `${url}${CHAT}`,
    BODY,
    id,
  );
}

describeWithBrowser('a page on another origin, in Chromium', () => {
  let browser: Browser;
  let pageServer: Server;
  let pageOrigin: string;
  beforeAll(async () => {
    [browser, { server: pageServer, origin: pageOrigin }] = await Promise.all([launchChromium(), servePage()]);
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => pageServer?.close(resolve));
  });

  /** A fresh page of the page server's origin. */
  async function openPage(): Promise<Page> {
    const page = await browser.newPage();
    await page.goto(`${pageOrigin}/`);
    return page;
  }

  describe('with the default origins (pages of this machine)', () => {
    let pipeline: PipelineApp;
    beforeAll(async () => {
      pipeline = await startPipeline();
    });
    afterAll(() => pipeline.close());

    it('streams a chat completion: the text is the mocker’s for the request, the id the one the page sent', async () => {
      expect(new URL(pageOrigin).port).not.toBe(new URL(pipeline.url).port);
      const page = await openPage();
      try {
        const result = await streamFromPage(page, pipeline.url, 'browser-stream-1');
        expect(result).toEqual({ text: await nodeText(pipeline.url), requestId: 'browser-stream-1', status: 200 });
        expect((result as { text: string }).text.length).toBeGreaterThan(0);
      } finally {
        await page.close();
      }
    }, 30_000);

    it('the official openai client in the page streams the same text and reports the id it sent', async () => {
      const page = await browser.newPage();
      try {
        await page.goto(`${pageOrigin}/client`);
        await page.waitForFunction(() => (window as unknown as { clientReady?: boolean }).clientReady === true);
        const result = await page.evaluate(
          (baseURL, body, id) =>
            (window as unknown as { clientChat(u: string, b: object, i: string): Promise<PageResult> }).clientChat(
              baseURL,
              body,
              id,
            ),
          `${pipeline.url}/v1`,
          BODY,
          'browser-client-1',
        );
        expect(result).toEqual({ text: await nodeText(pipeline.url), requestId: 'browser-client-1', status: 200 });
      } finally {
        await page.close();
      }
    }, 30_000);
    it('a path the router refuses (a malformed percent-encoding): the page reads the 400, its OpenAI error and the id it sent', async () => {
      const page = await openPage();
      try {
        // The request id header makes the browser ask a preflight first, for the same malformed path.
        const result = await page.evaluate(async (url: string) => {
          const res = await fetch(url, { headers: { 'x-request-id': 'browser-malformed-1' } });
          const body = (await res.json()) as { error: { type: string } };
          return { status: res.status, requestId: res.headers.get('x-request-id'), type: body.error.type };
        }, `${pipeline.url}/v1/models/%zz`);
        expect(result).toEqual({ status: 400, requestId: 'browser-malformed-1', type: 'invalid_request_error' });
      } finally {
        await page.close();
      }
    }, 30_000);
  });

  describe('where the page’s origin is not allowed', () => {
    let pipeline: PipelineApp;
    beforeAll(async () => {
      pipeline = await startPipeline({ CORS_ORIGINS: 'https://app.example.com' });
    });
    afterAll(() => pipeline.close());

    it('fetch fails in the page: the browser stops the request at its preflight', async () => {
      const page = await openPage();
      try {
        const result = await streamFromPage(page, pipeline.url, 'browser-denied-1');
        expect(result).toEqual({ error: 'TypeError: Failed to fetch' });
      } finally {
        await page.close();
      }
      // Stopped at the preflight, which the service refused: the chat request itself never reached it.
      const refused = await waitForLine(pipeline.logs, (line) => line.msg === 'incoming request' && isOptions(line));
      expect(await waitForCompletion(pipeline.logs, refused.requestId)).toMatchObject([{ res: { statusCode: 404 } }]);
      expect(pipeline.logs.forRequest('browser-denied-1')).toEqual([]);
    }, 30_000);
  });
});
