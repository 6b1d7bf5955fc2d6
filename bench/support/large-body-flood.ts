/**
 * A flood of large request bodies, run as its own process by hostile.bench.ts so that writing them
 * costs the measuring process nothing: keeps CONNECTIONS chat completions of BODY_BYTES in flight
 * against the port, each sent again as soon as it is answered, until stdin closes; then prints one JSON
 * line, `{ "statuses": { "<status>": count }, "ms": [latencies] }` (status 0: the request failed).
 *
 *   node large-body-flood.js <port> <connections> <bodyBytes>
 */
import { Agent, request } from 'node:http';

const [port, connections, bodyBytes] = process.argv.slice(2).map(Number) as [number, number, number];
const WORDS = 'the quick brown fox jumps over the lazy dog while seven wizards quietly hex a jumbo box ';
const content = WORDS.repeat(Math.ceil(bodyBytes / WORDS.length)).slice(0, bodyBytes - 200);
const body = Buffer.from(
  JSON.stringify({ model: 'threadline-mocker', messages: [{ role: 'user', content }], max_tokens: 1 }),
);

const agent = new Agent({ keepAlive: true, maxSockets: connections });
const statuses = new Map<number, number>();
const latencies: number[] = [];
let stopping = false;

function send(): Promise<void> {
  const started = performance.now();
  return new Promise((resolve) => {
    let answered = false;
    // A refused body is left unread by the server, so the socket may fail after the answer came.
    const done = (status: number) => {
      if (answered) return;
      answered = true;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      latencies.push(performance.now() - started);
      resolve();
    };
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
        res.on('error', () => done(0));
      },
    );
    req.on('error', () => done(0));
    req.end(body);
  });
}

async function keepSending(): Promise<void> {
  while (!stopping) await send();
}

process.stdin.resume();
process.stdin.on('end', () => (stopping = true));
const senders = Array.from({ length: connections }, keepSending);
console.error('FLOODING');
await Promise.all(senders);
agent.destroy();
process.stdout.write(`${JSON.stringify({ statuses: Object.fromEntries(statuses), ms: latencies })}\n`);
