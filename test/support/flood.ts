import { Agent, request } from 'node:http';

/** One request of a flood: a method, a path and, for a POST, a JSON body. */
export interface FloodRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: object;
  id: string;
}

/** How one request of a flood ended, timed from its send to the last byte of its response. */
export interface FloodOutcome {
  request: FloodRequest;
  /** 0 when the request failed at the socket. */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  ms: number;
}

/**
 * Sends every request at once, each on a connection of its own (as many separate clients would), and
 * collects how each ended. Nothing is retried.
 */
export async function flood(
  baseUrl: string,
  requests: readonly FloodRequest[],
  timeoutMs = 60_000,
): Promise<FloodOutcome[]> {
  const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  try {
    return await Promise.all(requests.map((each) => send(baseUrl, each, agent, timeoutMs)));
  } finally {
    agent.destroy();
  }
}

function send(baseUrl: string, each: FloodRequest, agent: Agent, timeoutMs: number): Promise<FloodOutcome> {
  const payload = each.body === undefined ? undefined : JSON.stringify(each.body);
  const headers: Record<string, string> = { 'x-request-id': each.id };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const started = performance.now();
  return new Promise((resolve) => {
    const failed = (error: Error) =>
      resolve({ request: each, status: 0, headers: {}, body: String(error), ms: performance.now() - started });
    const req = request(
      `${baseUrl}${each.path}`,
      { method: each.method, headers, agent, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', failed);
        res.on('end', () =>
          resolve({
            request: each,
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            ms: performance.now() - started,
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', failed);
    req.end(payload);
  });
}

/** The `p`-th percentile (0-100) of `values`, nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
