import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UUID_V4 } from '../support/raw-http.js';
import { startNpmScript } from '../support/service-process.js';
import type { ServiceProcess } from '../support/service-process.js';

// The README's first command, for real: `npm start` builds and boots the service as its own process.
describe('npm start', () => {
  let service: ServiceProcess;
  beforeAll(async () => {
    service = await startNpmScript('start', { PORT: '0', LOG_LEVEL: 'info' });
  }, 120_000);
  afterAll(() => service?.stop());

  it('serves with the id echoed, generated, and on its JSON log lines', async () => {
    const echoed = await fetch(`${service.url}/health`, { headers: { 'X-Request-Id': 'test-universal-123' } });
    expect(echoed.status).toBe(200);
    expect(echoed.headers.get('x-request-id')).toBe('test-universal-123');
    const generated = await fetch(`${service.url}/health`);
    expect(generated.headers.get('x-request-id')).toMatch(UUID_V4);
    const logged = service.logs.lines;
    expect(logged.filter((line) => line.requestId === 'test-universal-123').map((line) => line.msg)).toEqual([
      'incoming request',
      'request completed',
    ]);
  });

  it('tokenizes a long prompt in a worker thread loaded from dist/, and refuses one beyond the context', async () => {
    const post = (prompt: string) =>
      fetch(`${service.url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'threadline-mocker', prompt, max_tokens: 4 }),
      });
    // Long enough to go to the tokenizer's threads, short enough to fit the context.
    const served = await post(' hello'.repeat(6000));
    expect(served.status).toBe(200);
    expect(((await served.json()) as { usage: { prompt_tokens: number } }).usage.prompt_tokens).toBe(6000);
    const refused = await post(' hello'.repeat(9000));
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('context_length_exceeded');
  });

  it('stops start-up on a bad configuration value, naming it', async () => {
    await expect(startNpmScript('start', { PORT: '0', LOG_LEVEL: 'loud' }, 60_000)).rejects.toThrow(/LOG_LEVEL/);
  }, 90_000);
});
