import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MODEL } from './requests.js';

/**
 * A stand-in OpenAI-compatible upstream (node:http) for the `openai` engine: it answers as a test tells
 * it, and records what it was sent.
 */

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface FakeUpstream {
  /** `http://127.0.0.1:<port>/v1`, as UPSTREAM_URL */
  url: string;
  /** Every request but the `GET /v1/models` the service sends at start-up. */
  received: Received[];
  close(): Promise<void>;
}

export interface FakeUpstreamOptions {
  /**
   * Answer `GET /v1/models` with a list naming the served model and this `max_model_len` (`null`: the
   * field left out). Unset, that request goes to `answer` like any other.
   */
  maxModelLen?: number | null;
}

export type UpstreamAnswer = (req: IncomingMessage, res: ServerResponse) => void;

export async function startFakeUpstream(
  answer: UpstreamAnswer,
  options: FakeUpstreamOptions = {},
): Promise<FakeUpstream> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      // The service asks for the upstream's models once, at start-up, to learn its context length.
      const modelsLookup = req.method === 'GET' && req.url === '/v1/models';
      if (modelsLookup && options.maxModelLen !== undefined) {
        const model = {
          id: MODEL,
          object: 'model',
          owned_by: 'vllm',
          ...(options.maxModelLen === null ? {} : { max_model_len: options.maxModelLen }),
        };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [model] }));
        return;
      }
      if (!modelsLookup)
        received.push({
          method: req.method!,
          url: req.url!,
          headers: req.headers,
          body: text === '' ? undefined : JSON.parse(text),
        });
      answer(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Runs `run` with a fake upstream answering with `answer`, and closes the upstream however `run` ends. */
export async function withFakeUpstream<T>(
  answer: UpstreamAnswer,
  run: (fake: FakeUpstream) => Promise<T>,
  options: FakeUpstreamOptions = {},
): Promise<T> {
  const fake = await startFakeUpstream(answer, options);
  try {
    return await run(fake);
  } finally {
    await fake.close();
  }
}

/** Answers every request with `status` (and `headers`) and an OpenAI error body. */
export function failing(status: number, message: string, headers: Record<string, string> = {}): UpstreamAnswer {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify({ error: { message, type: 'server_error', param: null, code: null } }));
  };
}
