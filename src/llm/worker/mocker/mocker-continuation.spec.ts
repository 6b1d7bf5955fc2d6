import { describe, expect, it } from 'vitest';
import type { GenerateOutput, GenerateRequest, WorkerOutput } from '../../protocol/pipeline.types.js';
import { MockerEngine } from './mocker.engine.js';

const CONFIG = { prefillUsPerToken: 0, decodeMsPerToken: 0, maxRunning: 4, maxWaiting: 4, blockSize: 4, kvBlocks: 256 };

async function run(engine: MockerEngine, request: GenerateRequest): Promise<GenerateOutput[]> {
  const outputs: GenerateOutput[] = [];
  for await (const item of engine.generate(request, new AbortController().signal) as AsyncIterable<WorkerOutput>)
    if ('tokenIds' in item) outputs.push(item);
  return outputs;
}

const ids = (outputs: GenerateOutput[]) => outputs.flatMap((output) => output.tokenIds);

describe('the mocker continuing a migrated generation', () => {
  const prompt: GenerateRequest = {
    tokenIds: Array.from({ length: 21 }, (_, i) => 1000 + i),
    maxTokens: undefined,
    temperature: 0,
    seed: 5,
    original: {},
  };

  it('answers the rest of the same answer, on another engine, with the same end', async () => {
    const whole = await run(new MockerEngine(CONFIG, 'a'), prompt);
    const tokens = ids(whole);
    expect(whole.at(-1)!.finishReason).toBe('stop');
    for (const cut of [1, 5, tokens.length - 1]) {
      const rest = await run(new MockerEngine(CONFIG, 'b'), {
        ...prompt,
        tokenIds: [...prompt.tokenIds, ...tokens.slice(0, cut)],
        continuation: { promptTokens: prompt.tokenIds.length, generatedTokens: cut },
      });
      expect(ids(rest)).toEqual(tokens.slice(cut));
      expect(rest.at(-1)!.finishReason).toBe('stop');
      expect(rest[0]!.cachedTokens).toBeDefined();
    }
  });

  it('counts max_tokens as what is still missing', async () => {
    const whole = ids(await run(new MockerEngine(CONFIG, 'a'), { ...prompt, maxTokens: 9 }));
    expect(whole).toHaveLength(9);
    const rest = await run(new MockerEngine(CONFIG, 'b'), {
      ...prompt,
      tokenIds: [...prompt.tokenIds, ...whole.slice(0, 4)],
      maxTokens: 5,
      continuation: { promptTokens: prompt.tokenIds.length, generatedTokens: 4 },
    });
    expect(ids(rest)).toEqual(whole.slice(4));
    expect(rest.at(-1)!.finishReason).toBe('length');
  });
});
