/**
 * A flood of slow request bodies, run as its own process by hostile.bench.ts: opens CONNECTIONS
 * connections at once, each sending a chat completion's head and the start of its body, then one more
 * byte of it every TRICKLE_MS, never finishing it (as a slow-body attacker does). It does not reconnect.
 * Prints `FLOODING` on stderr once every connection is open or has failed to open; ends when every
 * connection is closed or stdin closes, printing one JSON line: how many connections opened, how many
 * were closed with an answer (its status counted) or without one, and when each closed (ms from the
 * flood's start); a connection that failed to open counts as "not opened".
 *
 *   node slow-body-flood.js <port> <connections> <trickleMs>
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';

const [port, connections, trickleMs] = process.argv.slice(2).map(Number) as [number, number, number];
const HEAD =
  'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":';

interface Outcome {
  opened: boolean;
  /** The status line's code when an answer came, 0 when the connection closed without one. */
  status?: number;
  closedAtMs?: number;
}

const started = performance.now();
const sockets: Socket[] = [];
const outcomes: Outcome[] = [];

function open(): Promise<void> {
  const outcome: Outcome = { opened: false };
  outcomes.push(outcome);
  return new Promise((settled) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    let answer = '';
    socket.on('connect', () => {
      outcome.opened = true;
      socket.write(HEAD);
      settled();
    });
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      if (outcome.opened) outcome.status = answer.startsWith('HTTP/1.1 ') ? Number(answer.slice(9, 12)) : 0;
      outcome.closedAtMs = performance.now() - started;
      settled();
    });
  });
}

await Promise.all(Array.from({ length: connections }, open));
console.error('FLOODING');
const trickle = setInterval(() => {
  for (const socket of sockets) if (socket.writable) socket.write(' ');
}, trickleMs);
await new Promise<void>((done) => {
  const check = setInterval(() => {
    if (outcomes.every((outcome) => outcome.closedAtMs !== undefined)) {
      clearInterval(check);
      done();
    }
  }, 100);
  process.stdin.on('end', () => {
    clearInterval(check);
    done();
  });
  process.stdin.resume();
});
clearInterval(trickle);
for (const socket of sockets) socket.destroy();
const statuses: Record<string, number> = {};
for (const { opened, status } of outcomes) {
  const label = !opened
    ? 'not opened'
    : status === undefined
      ? 'still open'
      : status === 0
        ? 'closed unanswered'
        : String(status);
  statuses[label] = (statuses[label] ?? 0) + 1;
}
process.stdout.write(
  `${JSON.stringify({
    opened: outcomes.filter((outcome) => outcome.opened).length,
    statuses,
    closedAtMs: outcomes.flatMap((outcome) =>
      outcome.closedAtMs === undefined ? [] : [Math.round(outcome.closedAtMs)],
    ),
  })}\n`,
);
