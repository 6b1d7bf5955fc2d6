import { describe, expect, it } from 'vitest';
import { loadAppConfig } from './app.config.js';
import { isLoopback, loadTimelineConfig } from './timeline.config.js';

describe('the request timeline configuration', () => {
  it('is on by default only when the service listens on a loopback address', () => {
    expect(loadAppConfig({}).timeline).toEqual({ enabled: true, requests: 1000 });
    expect(loadAppConfig({ HOST: '0.0.0.0' }).timeline.enabled).toBe(false);
    expect(loadAppConfig({ HOST: '::1' }).timeline.enabled).toBe(true);
  });

  it('THREADLINE_DEBUG_ROUTES decides either way', () => {
    expect(loadTimelineConfig({ THREADLINE_DEBUG_ROUTES: 'true' }, '0.0.0.0').enabled).toBe(true);
    expect(loadTimelineConfig({ THREADLINE_DEBUG_ROUTES: 'false' }, '127.0.0.1').enabled).toBe(false);
  });

  it('a bad value stops start-up, naming the variable', () => {
    expect(() => loadAppConfig({ THREADLINE_DEBUG_ROUTES: 'maybe' })).toThrow(/THREADLINE_DEBUG_ROUTES/);
    for (const bad of ['0', 'many', '-1', '1.5', '100001'])
      expect(() => loadAppConfig({ THREADLINE_TIMELINE_REQUESTS: bad }), bad).toThrow(/THREADLINE_TIMELINE_REQUESTS/);
    expect(loadAppConfig({ THREADLINE_TIMELINE_REQUESTS: '3' }).timeline.requests).toBe(3);
  });

  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
      expect(isLoopback(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.internal', '128.0.0.1'])
      expect(isLoopback(host), host).toBe(false);
  });
});
