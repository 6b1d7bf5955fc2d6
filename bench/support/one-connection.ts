import { Agent, get } from 'node:http';

/** GET requests sent one after another on a single kept-alive connection, for as long as it is open. */
export interface OneConnection {
  /** Sends `amount` requests, each after the last one's response; rejects on a status other than 200. */
  send(amount: number): Promise<void>;
  close(): void;
}

/**
 * One connection to `url`, kept open between `send()`s, so that a count can start on a connection the
 * server has already served: a server's code deoptimises and compiles again on the first requests of a
 * connection it has not seen (bench/README.md, "Instruction counts"). Throws if the connection closes
 * and a request would open another. Its requests' heads are autocannon's, `Host` and `Connection`
 * before `headers`: node:http writes the caller's headers first, and an `X-Request-Id` ahead of
 * `Host` cost every server more instructions a request.
 */
export function openConnection(url: string, headers: Record<string, string>): OneConnection {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const head = { Host: new URL(url).host, Connection: 'keep-alive', ...headers };
  let sent = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const first = sent++ === 0;
      const request = get(url, { agent, headers: head }, (response) => {
        response.resume();
        if (!first && !request.reusedSocket) reject(new Error('the server closed the connection'));
        response.once('end', () =>
          response.statusCode === 200 ? resolve() : reject(new Error(`status ${response.statusCode}`)),
        );
      });
      request.once('error', reject);
    });
  return {
    async send(amount) {
      for (let i = 0; i < amount; i++) await one();
    },
    close: () => agent.destroy(),
  };
}
