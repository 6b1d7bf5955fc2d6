import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSamples } from '../../support/metrics-text.js';
import { expectOpenAIError, projectTokenizer } from '../../support/openai-api.js';
import { startPipelineWithClient } from '../../support/openai-clients.js';
import type { PipelineApp } from '../../support/pipeline-app.js';
import { MODEL, send } from '../../support/requests.js';

/**
 * POST /v1/embeddings with the mocker (docs/openai-api.md, "Embeddings"): the official `openai` client
 * (which asks for base64 and decodes it) and plain JSON, float and base64, batches, token-id inputs,
 * `dimensions`, the vectors' properties (deterministic on every worker, length 1, texts sharing tokens
 * closer), and the refusals.
 */

const EMBEDDINGS = '/v1/embeddings';
/** A small context, so that an input past it is cheap to send. */
const MAX_MODEL_LEN = 64;

interface EmbeddingsBody {
  object: string;
  data: Array<{ object: string; index: number; embedding: number[] | string }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

let pipeline: PipelineApp;
let client: OpenAI;

beforeAll(async () => {
  ({ pipeline, client } = await startPipelineWithClient({
    LOG_LEVEL: 'debug',
    THREADLINE_MAX_MODEL_LEN: String(MAX_MODEL_LEN),
  }));
});
afterAll(() => pipeline.close());

async function embed(body: Record<string, unknown>, id?: string): Promise<EmbeddingsBody> {
  const res = await send(pipeline.url, EMBEDDINGS, { model: MODEL, ...body }, { id });
  expect(res.status, res.text).toBe(200);
  expect(res.contentType).toBe('application/json; charset=utf-8');
  return JSON.parse(res.text) as EmbeddingsBody;
}

/** The float vectors of a response, in order; each item's `index` must be its place. */
function vectors(body: EmbeddingsBody): number[][] {
  body.data.forEach((item, index) => expect(item).toMatchObject({ object: 'embedding', index }));
  return body.data.map((item) => item.embedding as number[]);
}

/** Little-endian float32 in base64, as OpenAI encodes it, decoded independently of the service's code. */
function fromBase64(base64: string): number[] {
  const bytes = Buffer.from(base64, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.byteLength / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

const norm = (v: readonly number[]) => Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
const cosine = (a: readonly number[], b: readonly number[]) => a.reduce((sum, x, i) => sum + x * b[i]!, 0);

describe('POST /v1/embeddings: the official openai client', () => {
  it('a text: one vector of 256 numbers (the client asks for base64 and decodes it), length 1, the usage and the request id', async () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    const result = await client.embeddings.create(
      { model: MODEL, input: text },
      { headers: { 'X-Request-Id': 'emb-sdk-1' } },
    );
    expect(result._request_id).toBe('emb-sdk-1');
    expect(result.object).toBe('list');
    expect(result.model).toBe(MODEL);
    expect(result.data).toHaveLength(1);
    const vector = Array.from(result.data[0]!.embedding);
    expect(vector).toHaveLength(256);
    expect(norm(vector)).toBeCloseTo(1, 5);
    const tokens = projectTokenizer.encode(text).length;
    expect(result.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    // The same numbers as the JSON float format gives.
    expect(vector).toEqual(vectors(await embed({ input: text }))[0]);
    const sent = pipeline.logs.forRequest('emb-sdk-1').map((line) => line.msg);
    expect(sent).toEqual(expect.arrayContaining(['handling processor.embed', 'handling worker.embed']));
  });

  it('a batch with encoding_format "float": the numbers as sent; "base64": little-endian float32, the same values', async () => {
    const input = ['first text', 'second text', 'a third'];
    const floats = await client.embeddings.create({ model: MODEL, input, encoding_format: 'float' });
    expect(floats.data.map((item) => item.index)).toEqual([0, 1, 2]);
    const base64 = await client.embeddings.create({ model: MODEL, input, encoding_format: 'base64' });
    for (const [i, item] of base64.data.entries()) {
      expect(typeof item.embedding).toBe('string');
      expect(fromBase64(item.embedding)).toEqual(floats.data[i]!.embedding);
    }
  });

  it('refusals are the client errors it raises: a wrong model is a NotFoundError, a bad field a BadRequestError naming it', async () => {
    const wrongModel = await client.embeddings.create({ model: 'gpt-nope', input: 'x' }).catch((e: unknown) => e);
    expect(wrongModel).toBeInstanceOf(OpenAI.NotFoundError);
    expect((wrongModel as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    const badDimensions = await client.embeddings
      .create({ model: MODEL, input: 'x', dimensions: 0 })
      .catch((e: unknown) => e);
    expect(badDimensions).toBeInstanceOf(OpenAI.BadRequestError);
    expect((badDimensions as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('dimensions');
  });
});

describe('POST /v1/embeddings: the vectors', () => {
  it('the response in OpenAI shape: list, embeddings by index, the model, usage of prompt tokens only', async () => {
    const body = await embed({ input: ['alpha beta', 'gamma'] }, 'emb-shape-1');
    expect(Object.keys(body).sort()).toEqual(['data', 'model', 'object', 'usage']);
    expect(body.object).toBe('list');
    expect(body.model).toBe(MODEL);
    expect(body.data.map((item) => Object.keys(item).sort())).toEqual([
      ['embedding', 'index', 'object'],
      ['embedding', 'index', 'object'],
    ]);
    const tokens = projectTokenizer.encode('alpha beta').length + projectTokenizer.encode('gamma').length;
    expect(body.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
  });

  it('deterministic: the same text gives the same vector on every worker, alone or in a batch', async () => {
    const text = 'retrieval augmented generation';
    const ids = ['emb-det-0', 'emb-det-1', 'emb-det-2', 'emb-det-3'];
    const alone: number[][] = [];
    for (const id of ids) alone.push(vectors(await embed({ input: text }, id))[0]!);
    for (const vector of alone) expect(vector).toEqual(alone[0]);
    // The two workers of the process each served some of them.
    const workers = new Set(
      ids.flatMap((id) =>
        pipeline.logs
          .forRequest(id)
          .filter((line) => line.msg === 'handling worker.embed')
          .map((line) => line.instanceId),
      ),
    );
    expect(workers.size).toBe(2);
    const batch = vectors(await embed({ input: ['something else', text] }));
    expect(batch[1]).toEqual(alone[0]);
  });

  it('every vector has length 1; texts that share tokens are closer than unrelated texts', async () => {
    const query = 'the cat sat on the mat';
    const documents = [
      'stock markets fell sharply on Tuesday',
      'a cat sat on a mat',
      'the cat sat on the mat in the sun',
      'quantum chromodynamics on the lattice',
    ];
    const [q, ...docs] = vectors(await embed({ input: [query, ...documents] }));
    for (const vector of [q!, ...docs]) expect(norm(vector)).toBeCloseTo(1, 5);
    const scores = docs.map((doc) => cosine(q!, doc));
    const ranked = scores.map((score, i) => [score, documents[i]!] as const).sort((a, b) => b[0] - a[0]);
    expect(ranked.slice(0, 2).map(([, doc]) => doc)).toEqual([documents[2], documents[1]]);
    expect(scores[2]).toBeGreaterThan(0.5);
    expect(Math.abs(scores[0]!)).toBeLessThan(0.3);
  });

  it('token ids as input: a list of ids is one input, a list of lists a batch, each as its text gives', async () => {
    const texts = ['hello world', 'embeddings from token ids'];
    const byText = vectors(await embed({ input: texts }));
    const ids = texts.map((text) => projectTokenizer.encode(text));
    const one = await embed({ input: ids[0] });
    expect(vectors(one)).toEqual([byText[0]]);
    expect(one.usage.prompt_tokens).toBe(ids[0]!.length);
    const batch = await embed({ input: ids });
    expect(vectors(batch)).toEqual(byText);
    expect(batch.usage.prompt_tokens).toBe(ids[0]!.length + ids[1]!.length);
  });

  it('dimensions: vectors of that length, still of length 1; the same length every time', async () => {
    for (const dimensions of [1, 64, 3072]) {
      const [vector] = vectors(await embed({ input: 'a shorter vector', dimensions }));
      expect(vector).toHaveLength(dimensions);
      expect(norm(vector!)).toBeCloseTo(1, 5);
    }
    const base64 = await embed({ input: 'a shorter vector', dimensions: 64, encoding_format: 'base64' });
    expect(fromBase64(base64.data[0]!.embedding as string)).toHaveLength(64);
  });

  it('user and explicit nulls are accepted', async () => {
    const body = await embed({ input: 'x', user: 'user-1234', encoding_format: null, dimensions: null });
    expect(vectors(body)[0]).toHaveLength(256);
  });
});

describe('POST /v1/embeddings: refusals, OpenAI error bodies naming the parameter', () => {
  const tooLong = 'word '.repeat(MAX_MODEL_LEN * 2);
  const cases: Array<[string, Record<string, unknown>, number, Record<string, unknown>]> = [
    ['no model', { model: undefined, input: 'x' }, 400, { param: 'model' }],
    ['a wrong model', { model: 'gpt-nope', input: 'x' }, 404, { param: 'model', code: 'model_not_found' }],
    ['no input', {}, 400, { param: 'input' }],
    ['an empty string', { input: '' }, 400, { param: 'input' }],
    ['an empty list', { input: [] }, 400, { param: 'input' }],
    ['an empty string in a batch', { input: ['a', ''] }, 400, { param: 'input[1]' }],
    ['an empty token list in a batch', { input: [[1, 2], []] }, 400, { param: 'input[1]' }],
    ['strings and ids mixed', { input: ['a', 1] }, 400, { param: 'input' }],
    ['a negative token id', { input: [1, -2] }, 400, { param: 'input' }],
    ['a token id outside the vocabulary', { input: [[5], [300_000]] }, 400, { param: 'input[1]' }],
    ['a number', { input: 42 }, 400, { param: 'input' }],
    ['too many inputs', { input: Array.from({ length: 2049 }, () => 'a') }, 400, { param: 'input' }],
    ['an unknown encoding_format', { input: 'x', encoding_format: 'int8' }, 400, { param: 'encoding_format' }],
    ['dimensions 0', { input: 'x', dimensions: 0 }, 400, { param: 'dimensions' }],
    ['dimensions not whole', { input: 'x', dimensions: 2.5 }, 400, { param: 'dimensions' }],
    ['dimensions past the most', { input: 'x', dimensions: 3073 }, 400, { param: 'dimensions' }],
    ['a user that is no string', { input: 'x', user: 5 }, 400, { param: 'user' }],
    ['a field it does not know', { input: 'x', temperature: 1 }, 400, { param: 'temperature' }],
    [
      'an input past the context length',
      { input: ['short', tooLong] },
      400,
      { param: 'input[1]', code: 'context_length_exceeded' },
    ],
    [
      'token ids past the context length',
      { input: Array.from({ length: MAX_MODEL_LEN + 1 }, () => 7) },
      400,
      { param: 'input', code: 'context_length_exceeded' },
    ],
  ];
  it.each(cases)('%s', async (_name, body, status, expected) => {
    const res = await send(pipeline.url, EMBEDDINGS, { model: MODEL, ...body });
    const error = expectOpenAIError(res, status, expected);
    if (expected.param === 'temperature') expect(error.message).toContain('temperature');
  });

  it('a body that is no object, and one nested too deep', async () => {
    expectOpenAIError(await send(pipeline.url, EMBEDDINGS, '[1, 2]'), 400, {});
    let deep: unknown = 1;
    for (let i = 0; i < 80; i++) deep = [deep];
    expectOpenAIError(await send(pipeline.url, EMBEDDINGS, { model: MODEL, input: deep }), 400, {
      param: 'input',
      code: 'json_too_deep',
    });
  });

  it('GET /metrics counts the requests under endpoint="embeddings", and their input tokens', async () => {
    const res = await fetch(`${pipeline.url}/metrics`);
    const samples = parseSamples(await res.text()).filter(
      (sample) => sample.name === 'threadline_requests_total' && sample.labels.endpoint === 'embeddings',
    );
    const byStatus = new Map(samples.map((sample) => [sample.labels.status, sample.value]));
    expect(byStatus.get('200')).toBeGreaterThan(5);
    expect(byStatus.get('400')).toBeGreaterThan(5);
    expect(byStatus.get('404')).toBeGreaterThanOrEqual(1);
  });
});
