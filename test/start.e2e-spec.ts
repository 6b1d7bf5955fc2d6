import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UUID_V4 } from './support/raw-http.js';
import { startNpmScript } from './support/service-process.js';
import type { ServiceProcess } from './support/service-process.js';

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

  it('stops start-up on a bad configuration value, naming it', async () => {
    await expect(startNpmScript('start', { PORT: '0', LOG_LEVEL: 'loud' }, 60_000)).rejects.toThrow(/LOG_LEVEL/);
  }, 90_000);
});
