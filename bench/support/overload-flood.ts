/**
 * A flood of concurrent requests, run as its own process by hostile.bench.ts so that opening them costs
 * the measuring process nothing: sends REQUESTS small chat completions (every other one streamed) and,
 * among them, a `GET /health` every PROBE_EVERY requests, all at once, each on a connection of its own
 * as many separate clients would; reads every answer to its end; then prints one JSON line,
 * `{ "answers": [[kind, status, ms], ...] }` with kind "health" or "chat" (status 0: the request failed
 * at its socket), latency from the moment the flood was sent.
 *
 *   node overload-flood.js <port> <requests> <probeEvery> <maxTokens>
 */
import { Agent, request } from 'node:http';

const [port, requests, probeEvery, maxTokens] = process.argv.slice(2).map(Number) as [number, number, number, number];
const TIMEOUT_MS = 120_000;

type Kind = 'health' | 'chat';

const chatBody = (index: number) =>
  Buffer.from(
    JSON.stringify({
      model: 'threadline-mocker',
      messages: [{ role: 'user', content: `Flood request ${index}: say hello to the sea.` }],
      max_tokens: maxTokens,
      stream: index % 2 === 0,
    }),
  );

const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });

function send(kind: Kind, body: Buffer | undefined, started: number): Promise<[Kind, number, number]> {
  return new Promise((resolve) => {
    let answered = false;
    const done = (status: number) => {
      if (answered) return;
      answered = true;
      resolve([kind, status, Math.round((performance.now() - started) * 100) / 100]);
    };
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: kind === 'health' ? 'GET' : 'POST',
        path: kind === 'health' ? '/health' : '/v1/chat/completions',
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': body.length },
        timeout: TIMEOUT_MS,
      },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
        res.on('error', () => done(0));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => done(0));
    req.end(body);
  });
}

// Every body made first, so that sending them is all the flood does.
const planned = Array.from({ length: requests }, (_, index) =>
  index % probeEvery === probeEvery - 1
    ? { kind: 'health' as const }
    : { kind: 'chat' as const, body: chatBody(index) },
);
const started = performance.now();
const answers = await Promise.all(planned.map(({ kind, body }) => send(kind, body, started)));
agent.destroy();
process.stdout.write(`${JSON.stringify({ answers })}\n`);
