/**
 * Requests to the service's OpenAI-compatible API: the model it serves, its two generation routes, the
 * request bodies the tests build, and a client that reads a whole reply with the headers tests check.
 */

export const MODEL = 'threadline-mocker';
export const CHAT = '/v1/chat/completions';
export const COMPLETIONS = '/v1/completions';

export type Api = 'chat' | 'completion';

export function pathOf(api: Api): string {
  return api === 'chat' ? CHAT : COMPLETIONS;
}

/** A chat request: one user message with `content`, then `extra` (which may override anything). */
export function chatBody(content: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: MODEL, messages: [{ role: 'user', content }], ...extra };
}

/** A completions request for `prompt` (text, or token ids), then `extra`. */
export function completionBody(
  prompt: string | readonly unknown[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { model: MODEL, prompt, ...extra };
}

/** `chatBody` or `completionBody`, by `api`, with `text` as the message or the prompt. */
export function apiBody(api: Api, text: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return api === 'chat' ? chatBody(text, extra) : completionBody(text, extra);
}

/** A whole reply, as a client saw it. */
export interface Reply {
  status: number;
  /** The `x-request-id` response header. */
  requestId: string | null;
  contentType: string | null;
  /** The `retry-after` response header. */
  retryAfter: string | null;
  text: string;
}

export interface SendOptions {
  /** Sent as `X-Request-Id` when given. */
  id?: string;
  /** @default 'POST' */
  method?: string;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/**
 * Sends one request and returns the response unread (for a test that reads a stream as it comes). A
 * string body is sent as it is (malformed JSON stays malformed), an object as JSON.
 */
export function request(
  url: string,
  path: string,
  body: string | object | undefined,
  options: SendOptions = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  if (options.id !== undefined) headers['x-request-id'] = options.id;
  return fetch(`${url}${path}`, {
    method: options.method ?? 'POST',
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: options.signal,
  });
}

/** `request`, read to the end. */
export async function send(
  url: string,
  path: string,
  body: string | object | undefined,
  options: SendOptions = {},
): Promise<Reply> {
  const res = await request(url, path, body, options);
  return {
    status: res.status,
    requestId: res.headers.get('x-request-id'),
    contentType: res.headers.get('content-type'),
    retryAfter: res.headers.get('retry-after'),
    text: await res.text(),
  };
}

/** An OpenAI error body. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}
