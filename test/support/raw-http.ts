import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  /** Header names in lower case; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends one HTTP/1.1 request over a real socket exactly as given, byte for byte: header values with
 * CR/LF, raw non-ASCII bytes or a header repeated twice reach the server unchanged, which `fetch` and
 * `inject` would refuse or normalise. Closes the connection after the response.
 */
export function rawRequest(
  port: number,
  head: string | Buffer,
  body: string | Buffer = '',
  timeoutMs = 10_000,
): Promise<RawResponse> {
  return rawExchange(port, Buffer.concat([toBuffer(head), Buffer.from('\r\n'), toBuffer(body)]), timeoutMs);
}

/**
 * Sends `bytes` over a real socket exactly as given (a request cut short stays cut short) and reads
 * until the server closes the connection.
 */
export function rawExchange(port: number, bytes: string | Buffer, timeoutMs = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('raw request timed out')), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks).toString('latin1')));
    });
    socket.write(toBuffer(bytes));
  });
}

/** A connection whose request is still being sent: the test writes the rest when it chooses. */
export interface OpenRawRequest {
  write(bytes: string | Buffer): void;
  /** The response, read once the server closes the connection. */
  response: Promise<RawResponse>;
  /** Closes the connection from the client's side. */
  destroy(): void;
}

/** Opens a connection and sends `bytes`, the start of a request; resolves once the connection is open. */
export function openRawRequest(port: number, bytes: string | Buffer, timeoutMs = 30_000): Promise<OpenRawRequest> {
  return new Promise((resolveOpen, rejectOpen) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('raw request timed out')), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const response = new Promise<RawResponse>((resolve, reject) => {
      socket.on('error', (error) => {
        clearTimeout(timer);
        rejectOpen(error);
        reject(error);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(parseResponse(Buffer.concat(chunks).toString('latin1')));
      });
    });
    response.catch(() => {});
    socket.once('connect', () => {
      socket.write(toBuffer(bytes));
      resolveOpen({ write: (more) => socket.write(toBuffer(more)), response, destroy: () => socket.destroy() });
    });
  });
}

/** The head of a request: request line, the given header lines, `Connection: close`, ending blank line. */
export function requestHead(method: string, path: string, headerLines: Array<string | Buffer>): Buffer {
  const lines: Buffer[] = [Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n`)];
  for (const line of headerLines) lines.push(toBuffer(line), Buffer.from('\r\n'));
  return Buffer.concat(lines);
}

function toBuffer(value: string | Buffer): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
}

function parseResponse(text: string): RawResponse {
  const end = text.indexOf('\r\n\r\n');
  const [statusLine, ...headerLines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = headers['transfer-encoding'] === 'chunked' ? dechunk(text.slice(end + 4)) : text.slice(end + 4);
  return { status: Number(statusLine?.split(' ')[1] ?? 0), headers, body };
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (!size) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}

/** A UUID of version 4, as the service generates by default. */
export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
