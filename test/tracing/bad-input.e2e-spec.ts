import { Controller, Get, Logger } from '@nestjs/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getCurrentRequestId } from '@threadline/tracing';
import { waitForLines } from '../support/log-capture.js';
import { rawRequest, requestHead, UUID_V4 } from '../support/raw-http.js';
import { PLATFORMS, startTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';

/**
 * docs/tracing.md, "The policy for an incoming id": a bad incoming `x-request-id` is replaced by a generated id,
 * never answered with a 4xx/5xx, never echoed (response header or body), never logged; exactly one log
 * line records the replacement, with the reason and the length and the generated id as `requestId`.
 */

@Controller()
class EchoController {
  private readonly logger = new Logger('EchoController');

  @Get('echo')
  echo() {
    this.logger.log('echo handler ran');
    return { id: getCurrentRequestId() ?? null };
  }
}

const REPLACED_MSG = 'incoming request id replaced by a generated one';
/** The body of the 400 answered when Node's HTTP parser rejects a request: RequestTracingModule's default (Nest's shape). */
const NODE_PARSE_ERROR_BODY = {
  statusCode: 400,
  error: 'Bad Request',
  message: expect.stringMatching(/^The request is not valid HTTP\/1\.1 \(HPE_[A-Z_]+\)\.$/) as unknown,
};

type Reason = 'too-long' | 'invalid-characters' | 'multiple-values';
type Transport = 'socket' | 'inject';

interface BadCase {
  name: string;
  /** The value as text; over the socket its UTF-8 bytes are sent, so Node sees them as latin1. */
  value: string;
  /** Send the header once per element instead (the same header repeated). */
  repeated?: string[];
  reason: Reason;
  /** Distinctive substrings of the value that must appear nowhere. */
  markers: string[];
  /**
   * What a real socket does with the bytes: `replaced` (the default) reaches the policy; `node-400`:
   * Node's HTTP parser refuses them before the app sees a request; `two-headers`: CRLF ends the header line.
   */
  onSocket?: 'replaced' | 'node-400' | 'two-headers';
}

const CASES: BadCase[] = [
  {
    name: 'CR inside the value',
    value: 'Zq01cr\rSplit',
    reason: 'invalid-characters',
    markers: ['Zq01cr', 'Split'],
    onSocket: 'node-400',
  },
  {
    name: 'LF inside the value',
    value: 'Zq02lf\nSplit',
    reason: 'invalid-characters',
    markers: ['Zq02lf'],
    onSocket: 'node-400',
  },
  {
    name: 'CRLF + an injected header line inside the value',
    value: 'Zq03crlf\r\nX-Injected: Zq03evil',
    reason: 'invalid-characters',
    markers: ['Zq03crlf', 'Zq03evil', 'X-Injected'],
    onSocket: 'two-headers',
  },
  {
    name: 'a TAB inside the value',
    value: 'Zq04tab\tInside',
    reason: 'invalid-characters',
    markers: ['Zq04tab', 'Inside'],
  },
  {
    name: 'a \\x01 control char',
    value: 'Zq05ctl\x01Byte',
    reason: 'invalid-characters',
    markers: ['Zq05ctl'],
    onSocket: 'node-400',
  },
  {
    name: 'a \\x1f control char',
    value: 'Zq06ctl\x1fByte',
    reason: 'invalid-characters',
    markers: ['Zq06ctl'],
    onSocket: 'node-400',
  },
  {
    name: 'a \\x7f (DEL) char',
    value: 'Zq07del\x7fByte',
    reason: 'invalid-characters',
    markers: ['Zq07del'],
    onSocket: 'node-400',
  },
  {
    name: 'a NUL char',
    value: 'Zq08nul\x00Byte',
    reason: 'invalid-characters',
    markers: ['Zq08nul'],
    onSocket: 'node-400',
  },
  { name: 'double quotes', value: 'Zq09"double"quoted', reason: 'invalid-characters', markers: ['Zq09', '"double"'] },
  { name: 'single quotes', value: "Zq10'single'quoted", reason: 'invalid-characters', markers: ['Zq10', "'single'"] },
  {
    name: 'spaces inside the value',
    value: 'Zq11 has some spaces',
    reason: 'invalid-characters',
    markers: ['Zq11', 'has some spaces'],
  },
  { name: 'a comma', value: 'Zq12left,Zq12right', reason: 'multiple-values', markers: ['Zq12left', 'Zq12right'] },
  {
    name: 'the same header sent twice (joined as "a, b")',
    value: 'Zq13first, Zq13second',
    repeated: ['Zq13first', 'Zq13second'],
    reason: 'multiple-values',
    markers: ['Zq13first', 'Zq13second'],
  },
  {
    name: '129 chars (one over the limit)',
    value: `Zq14${'a'.repeat(125)}`,
    reason: 'too-long',
    markers: ['Zq14aaaa'],
  },
  { name: '4 KiB', value: `Zq15${'b'.repeat(4096 - 4)}`, reason: 'too-long', markers: ['Zq15bbbb'] },
  { name: 'non-ASCII: café', value: 'Zq16café', reason: 'invalid-characters', markers: ['Zq16caf'] },
  { name: 'non-ASCII: 日本', value: 'Zq17日本', reason: 'invalid-characters', markers: ['Zq17'] },
  { name: '!!!', value: '!!!', reason: 'invalid-characters', markers: ['!!!'] },
  { name: 'bidi override U+202E', value: 'Zq18\u202Eevil', reason: 'invalid-characters', markers: ['Zq18', 'evil'] },
  { name: 'zero-width space U+200B', value: 'Zq19\u200Bzw', reason: 'invalid-characters', markers: ['Zq19'] },
  {
    name: 'JSON-breaking "},{"requestId":"x',
    value: '"},{"requestId":"x',
    reason: 'multiple-values',
    markers: ['{"requestId":"x'],
  },
  {
    name: 'JSON-breaking \\u0000 (backslash-u text)',
    value: 'Zq20\\u0000',
    reason: 'invalid-characters',
    markers: ['Zq20', '\\u0000'],
  },
  { name: 'JSON-breaking backslash and quote', value: 'Zq21\\"}', reason: 'invalid-characters', markers: ['Zq21'] },
  {
    name: 'a semicolon and equals (cookie-like)',
    value: 'Zq22=a;b=c',
    reason: 'invalid-characters',
    markers: ['Zq22'],
  },
  { name: 'angle brackets (HTML)', value: 'Zq23<script>', reason: 'invalid-characters', markers: ['Zq23', '<script>'] },
];

/** The header value as Node delivers it for the given transport. */
function seenValue(c: BadCase, transport: Transport): string {
  return transport === 'socket' ? Buffer.from(c.value, 'utf8').toString('latin1') : c.value;
}

/** Every form in which the raw value, or a piece of it, could show up in text. */
function forbiddenTexts(c: BadCase): string[] {
  const forms = new Set<string>();
  for (const text of [c.value, Buffer.from(c.value, 'utf8').toString('latin1'), ...c.markers, ...(c.repeated ?? [])]) {
    forms.add(text);
    forms.add(JSON.stringify(text).slice(1, -1)); // as it would look inside a JSON string
  }
  return [...forms].filter((text) => text.length >= 3);
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

async function send(t: TestApp, transport: Transport, c: BadCase): Promise<Reply> {
  if (transport === 'inject') {
    const res = await t
      .fastify()
      .inject({ method: 'GET', url: '/echo', headers: { 'x-request-id': c.repeated ?? c.value } });
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }
  const values = c.repeated ?? [c.value];
  const lines = values.map((v) => Buffer.concat([Buffer.from('X-Request-Id: '), Buffer.from(v, 'utf8')]));
  return rawRequest(t.port, requestHead('GET', '/echo', lines));
}

/** Parses a log line, turning any serialised Buffer (`{type:'Buffer',data:[...]}`) back into its text. */
function decodeLine(raw: string): string {
  const parsed: unknown = JSON.parse(raw, (_key, value: unknown) => {
    if (
      value !== null &&
      typeof value === 'object' &&
      (value as { type?: unknown }).type === 'Buffer' &&
      Array.isArray((value as { data?: unknown }).data)
    ) {
      return Buffer.from((value as { data: number[] }).data).toString('latin1');
    }
    return value;
  });
  return JSON.stringify(parsed);
}

function expectNotLogged(t: TestApp, c: BadCase): void {
  for (const text of forbiddenTexts(c)) {
    for (const line of t.logs.raw) {
      expect(line.includes(text), `log line contains ${JSON.stringify(text)}: ${line}`).toBe(false);
      const decoded = decodeLine(line);
      expect(
        decoded.includes(text),
        `log line (buffers decoded) contains ${JSON.stringify(text)}: ${line.slice(0, 300)}`,
      ).toBe(false);
    }
  }
}

function expectNotEchoed(res: Reply, c: BadCase): void {
  const headerText = Object.entries(res.headers)
    .map(([name, value]) => `${name}: ${Array.isArray(value) ? value.join(', ') : String(value)}`)
    .join('\n');
  for (const text of forbiddenTexts(c)) {
    expect(headerText.includes(text), `response headers contain ${JSON.stringify(text)}`).toBe(false);
    expect(res.body.includes(text), `response body contains ${JSON.stringify(text)}`).toBe(false);
  }
}

/** The full contract for a replaced id: 200, a fresh UUIDv4 everywhere, one replacement line, no leak. */
async function expectReplaced(t: TestApp, res: Reply, c: BadCase, transport: Transport): Promise<void> {
  expect(res.status).toBe(200);
  const id = res.headers['x-request-id'];
  expect(typeof id).toBe('string');
  expect(id).toMatch(UUID_V4);
  expect(JSON.parse(res.body)).toEqual({ id });
  expectNotEchoed(res, c);

  await waitForLines(t.logs, (l) => l.msg === 'request completed' && l.requestId === id);
  const lines = t.logs.lines;
  const replacements = lines.filter((l) => 'reason' in l || l.msg === REPLACED_MSG);
  expect(replacements).toHaveLength(1);
  expect(replacements[0]).toMatchObject({
    level: 30,
    msg: REPLACED_MSG,
    requestId: id,
    reason: c.reason,
    length: seenValue(c, transport).length,
  });
  // Every line this request wrote carries the generated id (the id is chosen, and the replacement
  // logged, before the platform logs the request), and nothing else was logged meanwhile.
  expect(lines.map((l) => l.msg)).toEqual([REPLACED_MSG, 'incoming request', 'echo handler ran', 'request completed']);
  for (const line of lines) expect(line.requestId, JSON.stringify(line)).toBe(id);
  expectNotLogged(t, c);
}

it('sanity: the lengths in the table of bad ids are what they claim', () => {
  expect(CASES.find((c) => c.name.startsWith('129'))?.value).toHaveLength(129);
  expect(CASES.find((c) => c.name === '4 KiB')?.value).toHaveLength(4096);
  expect(
    seenValue(
      CASES.find((c) => c.name === 'non-ASCII: café')!,
      'socket',
    ),
  ).toBe('Zq16cafÃ©');
});

describe.each(PLATFORMS)('bad incoming request ids on %s', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ platform, controllers: [EchoController] });
  });
  afterAll(() => t.close());
  beforeEach(() => t.logs.clear());

  describe('through a real socket', () => {
    for (const c of CASES.filter((x) => (x.onSocket ?? 'replaced') === 'replaced')) {
      it(`${c.name}: replaced by a UUIDv4, 200, never echoed or logged, one replacement line`, async () => {
        const res = await send(t, 'socket', c);
        await expectReplaced(t, res, c, 'socket');
      });
    }

    for (const c of CASES.filter((x) => x.onSocket === 'node-400')) {
      it(`${c.name}: Node's parser refuses it, and the 400 carries a generated id and echoes nothing; the server stays up`, async () => {
        const res = await send(t, 'socket', c);
        // llhttp refuses CR, LF and control chars other than TAB in a header value, before the app runs:
        // the module answers for Node (or Fastify), with an id of its own, since the request never got one.
        expect(res.status).toBe(400);
        expect(JSON.parse(res.body)).toEqual(NODE_PARSE_ERROR_BODY);
        expect(res.headers['x-request-id']).toMatch(UUID_V4);
        expectNotEchoed(res, c);
        expectNotLogged(t, c);
        const after = await rawRequest(t.port, requestHead('GET', '/echo', ['X-Request-Id: still-alive-1']));
        expect(after.status).toBe(200);
        expect(after.headers['x-request-id']).toBe('still-alive-1');
        expectNotLogged(t, c);
      });
    }

    it('CRLF inside the value splits it into two header lines: the part before is the id, the rest is not echoed', async () => {
      // On the wire, "id\r\nX-Injected: v" is simply two headers; Node cannot tell it from a legitimate one.
      const res = await rawRequest(
        t.port,
        requestHead('GET', '/echo', ['X-Request-Id: Zq03crlf\r\nX-Injected: Zq03evil']),
      );
      expect(res.status).toBe(200);
      expect(res.headers['x-request-id']).toBe('Zq03crlf');
      expect(res.headers['x-injected']).toBeUndefined();
      expect(JSON.parse(res.body)).toEqual({ id: 'Zq03crlf' });
      expect(res.body).not.toContain('Zq03evil');
      expect(t.logs.contains('Zq03evil')).toBe(false);
    });

    it('an empty value is treated as absent: a UUIDv4, and no replacement line', async () => {
      const res = await rawRequest(t.port, requestHead('GET', '/echo', ['X-Request-Id: ']));
      expect(res.status).toBe(200);
      const id = res.headers['x-request-id'];
      expect(id).toMatch(UUID_V4);
      expect(JSON.parse(res.body)).toEqual({ id });
      await waitForLines(t.logs, (l) => l.msg === 'request completed' && l.requestId === id);
      expect(t.logs.lines.filter((l) => 'reason' in l || l.msg === REPLACED_MSG)).toEqual([]);
    });

    it('each of two requests with the same bad id gets its own fresh id', async () => {
      const c = CASES.find((x) => x.name === 'double quotes')!;
      const a = await send(t, 'socket', c);
      const b = await send(t, 'socket', c);
      expect(a.headers['x-request-id']).toMatch(UUID_V4);
      expect(b.headers['x-request-id']).toMatch(UUID_V4);
      expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
    });
  });

  describe.runIf(platform === 'fastify')(
    'through app.inject (values a socket cannot carry reach the policy too; Fastify only: Express has no inject)',
    () => {
      for (const c of CASES) {
        it(`${c.name}: replaced by a UUIDv4, 200, never echoed or logged, one replacement line`, async () => {
          const res = await send(t, 'inject', c);
          await expectReplaced(t, res, c, 'inject');
        });
      }
    },
  );

  describe.runIf(platform === 'fastify')(
    'fastify#3217: a value with characters above 0xFF cannot crash the reply (Fastify only: such a value reaches an app only through inject)',
    () => {
      // Echoing such a value would make Node's setHeader throw ERR_INVALID_CHAR, i.e. a 500.
      const wide: BadCase[] = [
        { name: 'a snowman U+2603', value: '\u2603', reason: 'invalid-characters', markers: ['\u2603'] },
        { name: '日本', value: '日本', reason: 'invalid-characters', markers: ['日本'] },
        {
          name: 'an emoji (surrogate pair)',
          value: 'Zq30\u{1F600}',
          reason: 'invalid-characters',
          markers: ['Zq30', '\u{1F600}'],
        },
        {
          name: 'a valid-looking id followed by U+0100',
          value: 'abc-123\u0100',
          reason: 'invalid-characters',
          markers: ['abc-123\u0100'],
        },
      ];
      for (const c of wide) {
        it(`${c.name} through app.inject: 200 with a UUIDv4, not a 500`, async () => {
          const res = await t.fastify().inject({ method: 'GET', url: '/echo', headers: { 'x-request-id': c.value } });
          expect(res.statusCode).toBe(200);
          await expectReplaced(t, { status: res.statusCode, headers: res.headers, body: res.body }, c, 'inject');
        });
      }
    },
  );

  describe('valid ids are kept byte for byte', () => {
    const ALL_ALLOWED = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:/+=@-';
    const valid: Array<[string, string]> = [
      ['exactly 128 chars', `Max-${'x'.repeat(128 - 8)}-End`],
      ['every allowed character, once', ALL_ALLOWED],
      ['every allowed character, reversed', [...ALL_ALLOWED].reverse().join('')],
      ['mixed case (no case folding)', 'MiXeD-CaSe_Id'],
      ['one char', 'a'],
      ['a lone "-"', '-'],
      ['a lone "/"', '/'],
      ['a lone "="', '='],
      ['a lone "@"', '@'],
      ['a lone "+"', '+'],
      ['a lone ":"', ':'],
      ['a lone "."', '.'],
      ['a lone "_"', '_'],
      ['base64-looking', 'dGVzdC1pZA+/=='],
      ['a path-like id', '/svc/a:b@c'],
    ];

    it('the 128-char case really is 128 chars', () => {
      expect(valid[0]?.[1]).toHaveLength(128);
      expect(ALL_ALLOWED).toHaveLength(70);
    });

    for (const transport of ['socket', 'inject'] as const) {
      for (const [name, id] of valid) {
        it.runIf(transport === 'socket' || platform === 'fastify')(
          `${name} (${transport === 'socket' ? 'socket' : 'inject; Fastify only: Express has no inject'})`,
          async () => {
            const res =
              transport === 'socket'
                ? await rawRequest(t.port, requestHead('GET', '/echo', [`X-Request-Id: ${id}`]))
                : await t
                    .fastify()
                    .inject({ method: 'GET', url: '/echo', headers: { 'x-request-id': id } })
                    .then((r) => ({
                      status: r.statusCode,
                      headers: r.headers,
                      body: r.body,
                    }));
            expect(res.status).toBe(200);
            expect(res.headers['x-request-id']).toBe(id);
            expect(JSON.parse(res.body)).toEqual({ id });
            await waitForLines(t.logs, (l) => l.msg === 'request completed' && l.requestId === id);
            expect(t.logs.lines.filter((l) => 'reason' in l || l.msg === REPLACED_MSG)).toEqual([]);
            expect(t.logs.forRequest(id).map((l) => l.msg)).toEqual([
              'incoming request',
              'echo handler ran',
              'request completed',
            ]);
          },
        );
      }
    }

    it('129 chars of allowed characters is not kept (the limit is exact)', async () => {
      const id = `Max-${'x'.repeat(129 - 8)}-End`;
      const res = await rawRequest(t.port, requestHead('GET', '/echo', [`X-Request-Id: ${id}`]));
      expect(res.status).toBe(200);
      expect(res.headers['x-request-id']).toMatch(UUID_V4);
      await waitForLines(t.logs, (l) => l.msg === 'request completed' && l.requestId === res.headers['x-request-id']);
      expect(t.logs.lines.filter((l) => l.msg === REPLACED_MSG)).toEqual([
        expect.objectContaining({ reason: 'too-long', length: 129, requestId: res.headers['x-request-id'] }),
      ]);
      expect(t.logs.contains(id)).toBe(false);
    });
  });
});

describe.each(PLATFORMS)('bad incoming request ids at log level "trace" (the most verbose) on %s', (platform) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ platform, controllers: [EchoController], tracing: { logLevel: 'trace' } });
  });
  afterAll(() => t.close());
  beforeEach(() => t.logs.clear());

  for (const c of CASES.filter((x) => x.onSocket === 'node-400')) {
    it(`${c.name} over a socket: Node's parse error is not logged with the raw bytes`, async () => {
      const res = await send(t, 'socket', c);
      expect(res.status).toBe(400);
      expect(JSON.parse(res.body)).toEqual(NODE_PARSE_ERROR_BODY);
      expectNotEchoed(res, c);
      // Give the clientError handler's log line time to be written.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expectNotLogged(t, c);
    });
  }

  for (const name of ['double quotes', '4 KiB', 'non-ASCII: 日本', 'the same header sent twice (joined as "a, b")']) {
    const c = CASES.find((x) => x.name === name)!;
    it(`${c.name} over a socket: nothing at trace level logs the raw value`, async () => {
      const res = await send(t, 'socket', c);
      expect(res.status).toBe(200);
      expect(res.headers['x-request-id']).toMatch(UUID_V4);
      expectNotEchoed(res, c);
      await waitForLines(t.logs, (l) => l.msg === 'request completed' && l.requestId === res.headers['x-request-id']);
      expectNotLogged(t, c);
    });
  }
});
