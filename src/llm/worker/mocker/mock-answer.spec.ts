import { createRequire } from 'node:module';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { decode } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import type { GenerateRequest, OutputSpec } from '../../protocol/pipeline.types.js';
import { mockAnswer } from './mock-answer.js';
import type { MockAnswer } from './mock-answer.js';
import { MockText } from './mock-text.js';

const ajv = new Ajv2020({ strict: false, validateFormats: false });
ajv.addMetaSchema(createRequire(import.meta.url)('ajv/dist/refs/json-schema-draft-07.json') as object);

const PROMPT = [9906, 1917, 11, 1268, 553, 481, 30];

function request(output: OutputSpec | undefined, seed = 0): GenerateRequest {
  const r: GenerateRequest = { tokenIds: PROMPT, maxTokens: undefined, temperature: 1, seed, original: {} };
  if (output !== undefined) r.output = output;
  return r;
}

function whole(answer: Pick<MockAnswer, 'length' | 'token'>): number[] {
  return Array.from({ length: answer.length }, (_, position) => answer.token(position));
}

/** Schemas of the kinds clients send: nested objects, enums, nullable fields, arrays, refs, patterns, draft-07. */
const SCHEMAS: Array<Record<string, unknown>> = [
  {
    type: 'object',
    properties: {
      name: { type: 'string' },
      age: { type: 'integer', minimum: 0, maximum: 130 },
      tags: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 5 },
      role: { type: 'string', enum: ['admin', 'user'] },
      manager: {
        anyOf: [{ type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }, { type: 'null' }],
      },
    },
    required: ['name', 'age', 'tags', 'role', 'manager'],
    additionalProperties: false,
  },
  {
    $schema: 'http://json-schema.org/draft-07/schema#',
    type: 'object',
    definitions: {
      point: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'] },
    },
    properties: { path: { type: 'array', items: { $ref: '#/definitions/point' } } },
    required: ['path'],
  },
  {
    type: 'object',
    $defs: {
      node: {
        type: 'object',
        properties: { value: { type: 'integer' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } },
        required: ['value', 'children'],
        additionalProperties: false,
      },
    },
    properties: { root: { $ref: '#/$defs/node' } },
    required: ['root'],
  },
  {
    type: 'object',
    properties: {
      code: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{4}$' },
      ratio: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
      step: { type: 'number', multipleOf: 0.25 },
      flag: { type: 'boolean' },
      when: { type: ['string', 'null'] },
    },
    required: ['code', 'ratio', 'step', 'flag', 'when'],
  },
  { type: 'object', properties: {} },
];

describe("the mocker's answers to tools and response formats", () => {
  it('json_schema: JSON valid against the schema, for every seed, the same for the same prompt and seed', () => {
    for (const schema of SCHEMAS) {
      const validate = ajv.compile(schema);
      for (let seed = 0; seed < 25; seed++) {
        const output: OutputSpec = {
          response_format: { type: 'json_schema', json_schema: { name: 's', schema, strict: true } },
        };
        const answer = mockAnswer(PROMPT, request(output, seed));
        expect(answer.finishReason).toBe('stop');
        const text = decode(whole(answer));
        const value = JSON.parse(text) as unknown;
        expect(validate(value), `${text}: ${JSON.stringify(validate.errors)}`).toBe(true);
        expect(decode(whole(mockAnswer(PROMPT, request(output, seed))))).toBe(text);
      }
    }
  });

  it('tool calls: required picks one of the tools, named the one named, arguments valid against its parameters', () => {
    const tools = SCHEMAS.map((parameters, i) => ({
      type: 'function' as const,
      function: { name: `f${i}`, parameters },
    }));
    for (let seed = 0; seed < 25; seed++) {
      const answer = mockAnswer(PROMPT, request({ tools, tool_choice: 'required' }, seed));
      expect(answer.finishReason).toBe('tool_calls');
      const first = answer.fields(0, answer.token(0))!.toolCall!;
      expect(first.id).toMatch(/^call_/);
      const tool = tools.find((t) => t.function.name === first.name)!;
      const rest = Array.from({ length: answer.length - 1 }, (_, i) => answer.token(i + 1));
      expect(answer.fields(1, rest[0]!)?.toolCall).toEqual({ index: 0 });
      const args = JSON.parse(decode([answer.token(0), ...rest])) as unknown;
      expect(ajv.validate(tool.function.parameters, args)).toBe(true);

      const named = mockAnswer(
        PROMPT,
        request({ tools, tool_choice: { type: 'function', function: { name: 'f3' } } }, seed),
      );
      expect(named.fields(0, named.token(0))!.toolCall!.name).toBe('f3');
    }
  });

  it("auto: a seeded choice between a call and the plain text; 'none' and no tools: the plain text", () => {
    const tools = [{ type: 'function' as const, function: { name: 'f' } }];
    const kinds = new Set<string>();
    for (let seed = 0; seed < 20; seed++) {
      const plain = whole(new MockTextAnswer(seed));
      const auto = mockAnswer(PROMPT, request({ tools, tool_choice: 'auto' }, seed));
      if (auto.finishReason === 'tool_calls') {
        kinds.add('call');
        expect(decode(whole(auto))).toBe('{}');
      } else {
        kinds.add('text');
        expect(whole(auto)).toEqual(plain);
      }
      expect(whole(mockAnswer(PROMPT, request({ tools, tool_choice: 'none' }, seed)))).toEqual(plain);
      expect(whole(mockAnswer(PROMPT, request(undefined, seed)))).toEqual(plain);
    }
    expect(kinds).toEqual(new Set(['call', 'text']));
  });

  it('json_object: a JSON object', () => {
    for (let seed = 0; seed < 20; seed++) {
      const value: unknown = JSON.parse(
        decode(whole(mockAnswer(PROMPT, request({ response_format: { type: 'json_object' } }, seed)))),
      );
      expect(value).toBeTypeOf('object');
      expect(Array.isArray(value)).toBe(false);
    }
  });

  it('a continuation (after skip) goes on with the same tokens', () => {
    const output: OutputSpec = {
      response_format: { type: 'json_schema', json_schema: { name: 's', schema: SCHEMAS[0]! } },
    };
    const all = whole(mockAnswer(PROMPT, request(output, 4)));
    const resumed = mockAnswer(PROMPT, request(output, 4));
    resumed.skip(5);
    expect(Array.from({ length: all.length - 5 }, (_, i) => resumed.token(i + 5))).toEqual(all.slice(5));
  });

  it('logprobs of text: the log of the probability each token was drawn with, the top alternatives most likely first', () => {
    const answer = mockAnswer(PROMPT, request({ top_logprobs: 4 }, 3));
    for (let position = 0; position < answer.length; position++) {
      const token = answer.token(position);
      const [entry] = answer.fields(position, token)!.logprobs!;
      expect(decode([token])).toBe(entry!.token);
      expect(Buffer.from(entry!.bytes).toString()).toBe(entry!.token);
      const p = Math.exp(entry!.logprob);
      if (position === answer.length - 1) expect(p).toBe(1);
      else if (position === 0) expect(entry!.top.every((alt) => alt.logprob === entry!.logprob)).toBe(true);
      else if (entry!.token === '.' || entry!.token === ',') expect(p).toBeCloseTo(0.06, 12);
      else expect(p).toBeLessThan(0.06);
      const logprobs = entry!.top.map((alt) => alt.logprob);
      expect(logprobs).toEqual([...logprobs].sort((a, b) => b - a));
      expect(entry!.top.length).toBe(position === answer.length - 1 ? 1 : 4);
    }
  });

  it('the distribution sums to 1 at every position', () => {
    const text = new MockText(PROMPT, 0);
    for (const position of [0, 1, 5, text.length - 1]) {
      const total = text.distribution(position).reduce((sum, [, p]) => sum + p, 0);
      expect(total).toBeCloseTo(1, 9);
    }
  });

  it('refuses a schema it cannot satisfy, and one asking for a huge value, naming the parameter', () => {
    const never = { allOf: [{ type: 'string' }, { type: 'number' }] };
    expect(() =>
      mockAnswer(
        PROMPT,
        request({ response_format: { type: 'json_schema', json_schema: { name: 'n', schema: never } } }),
      ),
    ).toThrow(expect.objectContaining({ param: 'response_format.json_schema.schema', status: 400 }));
    const huge = {
      type: 'object',
      properties: { a: { type: 'array', minItems: 100, items: { type: 'array', minItems: 100 } } },
    };
    expect(() =>
      mockAnswer(
        PROMPT,
        request({ tools: [{ type: 'function', function: { name: 'f', parameters: huge } }], tool_choice: 'required' }),
      ),
    ).toThrow(expect.objectContaining({ param: 'tools[0].function.parameters', status: 400 }));
    const endless = { $ref: '#' };
    expect(() =>
      mockAnswer(
        PROMPT,
        request({ response_format: { type: 'json_schema', json_schema: { name: 'e', schema: endless } } }),
      ),
    ).toThrow(
      expect.objectContaining({
        message: 'response_format.json_schema.schema refers to itself without end: no value can be checked against it.',
        status: 400,
      }),
    );
  });
});

/** The plain text answer, as the mocker gives it without tools or formats. */
class MockTextAnswer {
  private readonly text: MockText;
  constructor(seed: number) {
    this.text = new MockText(PROMPT, seed);
  }
  get length(): number {
    return this.text.length;
  }
  token(position: number): number {
    return this.text.token(position);
  }
}
