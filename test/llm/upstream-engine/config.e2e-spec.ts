import { describe, expect, it } from 'vitest';
import { loadLlmConfig } from '../../../src/llm/llm.config.js';
import { MODEL } from '../../support/requests.js';

/**
 * The `openai` engine's configuration: UPSTREAM_* variables, refused by name when wrong.
 */

describe('the openai engine configuration', () => {
  it('THREADLINE_ENGINE=openai without UPSTREAM_URL: a ConfigError naming UPSTREAM_URL', () => {
    expect(() => loadLlmConfig({ THREADLINE_ENGINE: 'openai' })).toThrow(
      'Invalid configuration: UPSTREAM_URL must be set when THREADLINE_ENGINE=openai (the OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1)',
    );
  });

  it.each(['ftp://x', 'not a url', ''])('UPSTREAM_URL %j: a ConfigError naming UPSTREAM_URL', (value) => {
    expect(() => loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: value })).toThrow(
      `Invalid configuration: UPSTREAM_URL must be an http(s) URL, got ${JSON.stringify(value)}`,
    );
  });

  it('UPSTREAM_URL with credentials: a ConfigError naming UPSTREAM_URL, which never shows the password', () => {
    for (const value of [
      'http://bob:pa55word@127.0.0.1:45005/v1',
      'http://bob@127.0.0.1:45005/v1',
      'http://:pa55word@h/v1',
    ]) {
      let thrown: unknown;
      try {
        loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: value });
      } catch (error) {
        thrown = error;
      }
      expect((thrown as Error).name, value).toBe('ConfigError');
      expect((thrown as Error).message).toBe(
        'Invalid configuration: UPSTREAM_URL must not hold credentials (user:password@): the engine sends UPSTREAM_API_KEY as its bearer token',
      );
    }
    // Refused for another fault, the value is shown without them.
    expect(() => loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: 'ftp://bob:pa55word@h/v1' })).toThrow(
      'Invalid configuration: UPSTREAM_URL must be an http(s) URL, got "ftp://…@h/v1"',
    );
  });

  it('the error is a ConfigError', () => {
    let thrown: unknown;
    try {
      loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: 'ftp://x' });
    } catch (error) {
      thrown = error;
    }
    expect((thrown as Error).name).toBe('ConfigError');
  });

  it('a valid upstream: trailing slashes dropped, the model defaults to the served one, the timeout to 10 minutes', () => {
    expect(loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: 'http://127.0.0.1:8000/v1/' }).upstream).toEqual({
      url: 'http://127.0.0.1:8000/v1',
      apiKey: undefined,
      model: MODEL,
      timeoutMs: 600_000,
      sdkCustomHeaders: [],
    });
    expect(
      loadLlmConfig({
        THREADLINE_ENGINE: 'openai',
        UPSTREAM_URL: 'https://llm.example/v1',
        UPSTREAM_API_KEY: 'k',
        UPSTREAM_MODEL: 'm',
        UPSTREAM_TIMEOUT_MS: '1500',
      }).upstream,
    ).toEqual({ url: 'https://llm.example/v1', apiKey: 'k', model: 'm', timeoutMs: 1500, sdkCustomHeaders: [] });
  });

  it('UPSTREAM_TIMEOUT_MS out of range, and disaggregation with the openai engine, are refused by name', () => {
    expect(() =>
      loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: 'http://h/v1', UPSTREAM_TIMEOUT_MS: '0' }),
    ).toThrow('Invalid configuration: UPSTREAM_TIMEOUT_MS must be a whole number from 1 to 86400000, got "0"');
    expect(() =>
      loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: 'http://h/v1', THREADLINE_DISAGG: '1' }),
    ).toThrow(/^Invalid configuration: THREADLINE_DISAGG /);
  });
});
