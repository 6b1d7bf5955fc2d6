import { describe, expect, it } from 'vitest';
import { loadAppConfig } from './app.config.js';

describe('METRICS_PORT in the configuration', () => {
  it('is unset by default: no server of its own', () => {
    expect(loadAppConfig({}).metricsPort).toBeUndefined();
  });

  it('is a port number, 0 meaning any free port', () => {
    expect(loadAppConfig({ METRICS_PORT: '9464' }).metricsPort).toBe(9464);
    expect(loadAppConfig({ METRICS_PORT: '0' }).metricsPort).toBe(0);
  });

  it.each(['', '-1', '65536', 'http', '9464 ', '1e3'])('refuses %j, naming the variable', (value) => {
    expect(() => loadAppConfig({ METRICS_PORT: value })).toThrow(
      `Invalid configuration: METRICS_PORT must be a port number from 0 to 65535, got ${JSON.stringify(value)}`,
    );
  });
});
