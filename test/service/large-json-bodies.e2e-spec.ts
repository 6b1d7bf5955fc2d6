import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OFFLOAD_MIN_BYTES } from '../../src/http/json-body-parser.js';
import { waitForLine } from '../support/log-capture.js';
import { startPipeline } from '../support/pipeline-app.js';
import type { PipelineApp } from '../support/pipeline-app.js';
import { CHAT, chatBody, send } from '../support/requests.js';
import type { ErrorBody, Reply } from '../support/requests.js';

/**
 * A JSON body of OFFLOAD_MIN_BYTES or more is parsed in a thread, off the event loop: its client
 * must not be able to tell. Each case is sent twice, as a small body and padded past the threshold
 * with JSON whitespace (which leaves its meaning alone), and both get the same answer: the same
 * status, the same OpenAI body but for its request id, and the same warn line.
 */

/** `json` followed by whitespace up to `OFFLOAD_MIN_BYTES` and a bit more. */
function padded(json: string): string {
  return json + ' \n\t\r'.repeat(Math.ceil((OFFLOAD_MIN_BYTES + 1024 - json.length) / 4));
}

const CHAT_JSON = JSON.stringify(chatBody('Say hello to the sea.', { max_tokens: 3 }));
const NOT_JSON = "Body is not valid JSON but content-type is set to 'application/json'";
/** A body that is JSON is not told it is not: the key it was refused for is named. */
const POISONED =
  'The body holds a `__proto__` key, or a `constructor` key holding `prototype`: no request takes them, and they are refused.';
const CASES = [
  { name: 'malformed JSON', json: '{"model": "threadline-mocker", "messages": [', status: 400, message: NOT_JSON },
  {
    name: 'a __proto__ key',
    json: CHAT_JSON.replace('{', '{"__proto__": {"polluted": true}, '),
    status: 400,
    message: POISONED,
  },
  {
    name: 'an escaped __proto__ key',
    json: CHAT_JSON.replace('{', '{"\\u005f_proto__": {"polluted": true}, '),
    status: 400,
    message: POISONED,
  },
  {
    name: 'a constructor with a prototype',
    json: CHAT_JSON.replace('{', '{"metadata": {"constructor": {"prototype": {"polluted": true}}}, '),
    status: 400,
    message: POISONED,
  },
  { name: 'a body that is not an object', json: '[1, 2]', status: 400 },
  { name: 'a chat request', json: CHAT_JSON, status: 200 },
  { name: 'a chat request after a byte order mark', json: `\uFEFF${CHAT_JSON}`, status: 200 },
] as const;

/** The parts of an answer a client compares: its status, and its body with the request id taken out. */
function comparable(reply: Reply, id: string): { status: number; body: unknown } {
  if (reply.status === 200) {
    // A completion's id and creation time are its own; what it says is not.
    const { choices, usage, object } = JSON.parse(reply.text) as Record<string, unknown>;
    return { status: 200, body: { choices, usage, object } };
  }
  return { status: reply.status, body: JSON.parse(reply.text.replaceAll(id, '<id>')) as unknown };
}

describe('a large JSON body is parsed in a thread, with the answers of a small one', () => {
  let pipeline: PipelineApp;
  beforeAll(async () => {
    pipeline = await startPipeline();
  });
  afterAll(() => pipeline.close());

  it.each(CASES)('$name: the same answer and warn line, small and padded past the threshold', async (c) => {
    const slug = c.name.replace(/[^a-z]+/g, '-');
    const small = await send(pipeline.url, CHAT, c.json, { id: `small-${slug}` });
    const large = await send(pipeline.url, CHAT, padded(c.json), { id: `large-${slug}` });
    expect(Buffer.byteLength(padded(c.json))).toBeGreaterThanOrEqual(OFFLOAD_MIN_BYTES);
    expect(small.status, small.text).toBe(c.status);
    expect(large.requestId).toBe(`large-${slug}`);
    expect(comparable(large, `large-${slug}`)).toEqual(comparable(small, `small-${slug}`));
    if (c.status === 200) return;
    const { error } = JSON.parse(large.text) as ErrorBody;
    expect(error.type).toBe('invalid_request_error');
    if ('message' in c) expect(error.message).toBe(c.message);
    const lineOf = (id: string) =>
      waitForLine(pipeline.logs, (line) => line.requestId === id && line.level === 40, {
        what: `the warn line of ${id}`,
      });
    const [smallLine, largeLine] = await Promise.all([lineOf(`small-${slug}`), lineOf(`large-${slug}`)]);
    expect({ msg: largeLine.msg, status: largeLine.status, code: largeLine.code }).toEqual({
      msg: String(smallLine.msg).replaceAll(`small-${slug}`, `large-${slug}`),
      status: smallLine.status,
      code: smallLine.code,
    });
  });

  it('a prompt too long for the context, in a large body, gets its 400 context_length_exceeded with its id', async () => {
    const reply = await send(pipeline.url, CHAT, chatBody('z'.repeat(OFFLOAD_MIN_BYTES), { max_tokens: 5 }), {
      id: 'large-too-long',
    });
    expect(reply.status).toBe(400);
    expect(reply.requestId).toBe('large-too-long');
    const { error } = JSON.parse(reply.text) as ErrorBody;
    expect(error).toMatchObject({ code: 'context_length_exceeded', param: 'messages' });
    expect(error.message).toContain('(request id large-too-long)');
  });

  it('a large body sent in many chunks of no declared length is put back together in the thread, in order', async () => {
    const json = padded(CHAT_JSON);
    const whole = await send(pipeline.url, CHAT, json, { id: 'large-whole' });
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${pipeline.url}${CHAT}`,
        { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          let answer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (answer += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: answer }));
        },
      );
      req.on('error', reject);
      // Uneven pieces, each a write of its own, so that the body arrives in many chunks.
      for (let at = 0, piece = 1000; at < json.length; at += piece, piece = 1000 + ((piece * 7) % 30_000))
        req.write(json.slice(at, at + piece));
      req.end();
    });
    expect(status, text).toBe(200);
    expect(comparable({ ...whole, status, text }, '')).toEqual(comparable(whole, ''));
  });

  it.runIf(process.platform === 'linux')(
    'the parsing thread runs at a lower priority than the event loop (a higher nice value)',
    async () => {
      expect((await send(pipeline.url, CHAT, padded(CHAT_JSON))).status).toBe(200);
      const nice = (tid: string) => {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
      };
      const threads = readdirSync('/proc/self/task');
      expect(nice(String(process.pid))).toBe(0);
      expect(threads.some((tid) => nice(tid) > 0)).toBe(true);
    },
  );
});
