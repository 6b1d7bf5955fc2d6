import { connect } from 'node:net';
import { expect } from 'vitest';
import { request } from './requests.js';

/** The `data:` values of an SSE body, in order, as written. */
export function sseData(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => line.slice('data: '.length));
}

/** The `data:` values of an SSE body, each parsed as JSON except the final `[DONE]`, kept as that string. */
export function sseJson(text: string): unknown[] {
  return sseData(text).map((payload) => (payload === '[DONE]' ? payload : (JSON.parse(payload) as unknown)));
}

/** An error event of the service's streams. */
export interface ErrorEvent {
  error: { message: string; type: string; param?: string | null; code: string | null };
}

/** The error events of an SSE body. */
export function errorEvents(text: string): ErrorEvent[] {
  return sseJson(text).filter(
    (event): event is ErrorEvent => typeof event === 'object' && event !== null && 'error' in event,
  );
}

/**
 * The events of one of the service's stream bodies, checked for its shape: it opens with the comment
 * `: ok` (clients ignore it; it sends the headers before the first token), and every event after it is
 * one `data:` line. Returns each event's value, `[DONE]` included when the stream sent it.
 */
export function serviceEvents(text: string): string[] {
  expect(text.startsWith(': ok\n\n'), text).toBe(true);
  const parts = text.slice(': ok\n\n'.length).split('\n\n');
  expect(parts.at(-1), text).toBe('');
  return parts.slice(0, -1).map((event) => {
    expect(event.startsWith('data: '), text).toBe(true);
    return event.slice('data: '.length);
  });
}

/** `serviceEvents` of a stream that ended well: it ends with one `[DONE]`; the chunks before it, parsed. */
export function serviceChunks<T>(text: string): T[] {
  const events = serviceEvents(text);
  expect(events.at(-1), text.slice(-500)).toBe('[DONE]');
  expect(events.filter((event) => event === '[DONE]')).toHaveLength(1);
  return events.slice(0, -1).map((event) => JSON.parse(event) as T);
}

/**
 * Sends a streamed request as request `id` (aborted after `timeoutMs`, so a hung stream fails the test)
 * and returns a reader of its stream, once the service has answered it with a 200.
 */
export async function openStream(
  url: string,
  path: string,
  body: object,
  id: string,
  timeoutMs: number,
): Promise<SseReader> {
  const res = await request(url, path, body, { id, signal: AbortSignal.timeout(timeoutMs) });
  expect(res.status).toBe(200);
  return new SseReader(res);
}

/** Reads an SSE response body as it arrives, with deadlines. */
export class SseReader {
  text = '';
  done = false;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  /** A read in progress, kept across waits so that no chunk is lost to an abandoned read. */
  private pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;

  constructor(res: Response) {
    this.reader = res.body!.getReader();
  }

  get dataCount(): number {
    return (this.text.match(/^data: /gm) ?? []).length;
  }

  /**
   * Reads until `predicate` holds or the stream ends; fails after `timeoutMs`. The predicate is checked
   * after each chunk and at least every 100 ms.
   */
  async until(predicate: (reader: SseReader) => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.done && !predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`stream: no ${what} within ${timeoutMs} ms; received so far:\n${this.text.slice(-2000)}`);
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<'tick'>((resolve) => (timer = setTimeout(() => resolve('tick'), Math.min(left, 100))));
      this.pending ??= this.reader.read();
      const next = await Promise.race([this.pending, tick]);
      clearTimeout(timer);
      if (next === 'tick') continue;
      this.pending = undefined;
      if (next.done) this.done = true;
      else this.text += this.decoder.decode(next.value, { stream: true });
    }
  }

  /** Reads to the end of the stream; fails after `timeoutMs`. */
  async toEnd(timeoutMs: number): Promise<string> {
    await this.until(() => false, timeoutMs, 'end of stream');
    return this.text;
  }

  cancel(): Promise<void> {
    this.pending?.catch(() => undefined);
    return this.reader.cancel().catch(() => undefined);
  }
}

/**
 * Opens an SSE stream with a GET over a real socket, reads until `events` events have arrived, then
 * destroys the socket (a client that goes away). Resolves with the response head and the events read.
 */
export function readSseThenDisconnect(
  port: number,
  path: string,
  id: string,
  events: number,
  timeoutMs = 5_000,
): Promise<{ head: string; data: string[] }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`SSE: fewer than ${events} events within ${timeoutMs} ms; got ${JSON.stringify(text)}`));
    }, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return;
      const data = sseData(text.slice(end + 4));
      if (data.length < events) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ head: text.slice(0, end), data });
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nX-Request-Id: ${id}\r\n\r\n`);
  });
}
