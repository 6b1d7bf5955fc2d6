import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadLlmConfig } from './llm.config.js';

describe('the context length and the tokenizer threads in the configuration', () => {
  it('default to 8192 tokens, and a thread per core beyond the first, from 1 to 4', () => {
    const config = loadLlmConfig({});
    expect(config.maxModelLen).toBe(8192);
    expect(config.tokenizerThreads).toBe(Math.max(1, Math.min(4, availableParallelism() - 1)));
  });

  it('are read from THREADLINE_MAX_MODEL_LEN and THREADLINE_TOKENIZER_THREADS; 0 threads tokenize on the event loop', () => {
    const config = loadLlmConfig({ THREADLINE_MAX_MODEL_LEN: '131072', THREADLINE_TOKENIZER_THREADS: '0' });
    expect({ maxModelLen: config.maxModelLen, tokenizerThreads: config.tokenizerThreads }).toEqual({
      maxModelLen: 131072,
      tokenizerThreads: 0,
    });
  });

  it.each([
    ['THREADLINE_MAX_MODEL_LEN', '0', 'must be a whole number from 1 to 100000000, got "0"'],
    ['THREADLINE_MAX_MODEL_LEN', '8k', 'must be a whole number from 1 to 100000000, got "8k"'],
    ['THREADLINE_MAX_MODEL_LEN', '4096.5', 'must be a whole number from 1 to 100000000, got "4096.5"'],
    ['THREADLINE_TOKENIZER_THREADS', '-1', 'must be a whole number from 0 to 64, got "-1"'],
    ['THREADLINE_TOKENIZER_THREADS', 'auto', 'must be a whole number from 0 to 64, got "auto"'],
    ['THREADLINE_REQUEST_TIMEOUT_MS', '0', 'must be a whole number from 1 to 86400000, got "0"'],
    ['THREADLINE_REQUEST_TIMEOUT_MS', '5s', 'must be a whole number from 1 to 86400000, got "5s"'],
  ])('stop start-up with a message naming %s when it is %j', (variable, value, reason) => {
    expect(() => loadLlmConfig({ [variable]: value })).toThrow(`Invalid configuration: ${variable} ${reason}`);
  });
});

describe('the request timeout in the configuration', () => {
  it('defaults to five minutes and is read from THREADLINE_REQUEST_TIMEOUT_MS', () => {
    expect(loadLlmConfig({}).requestTimeoutMs).toBe(300_000);
    expect(loadLlmConfig({ THREADLINE_REQUEST_TIMEOUT_MS: '2500' }).requestTimeoutMs).toBe(2500);
  });
});

describe('the migration limit in the configuration', () => {
  it('defaults to 3 and is read from THREADLINE_MIGRATION_LIMIT; 0 turns migration off', () => {
    expect(loadLlmConfig({}).migrationLimit).toBe(3);
    expect(loadLlmConfig({ THREADLINE_MIGRATION_LIMIT: '0' }).migrationLimit).toBe(0);
    expect(loadLlmConfig({ THREADLINE_MIGRATION_LIMIT: '7' }).migrationLimit).toBe(7);
  });

  it.each([
    ['-1', 'must be a whole number from 0 to 100, got "-1"'],
    ['two', 'must be a whole number from 0 to 100, got "two"'],
    ['1.5', 'must be a whole number from 0 to 100, got "1.5"'],
  ])('stops start-up naming THREADLINE_MIGRATION_LIMIT when it is %j', (value, reason) => {
    expect(() => loadLlmConfig({ THREADLINE_MIGRATION_LIMIT: value })).toThrow(
      `Invalid configuration: THREADLINE_MIGRATION_LIMIT ${reason}`,
    );
  });
});
