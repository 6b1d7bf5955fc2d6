import { describe, expect, it } from 'vitest';
import { loadLlmConfig } from '../llm/llm.config.js';
import { loadAppConfig } from './app.config.js';

describe('numbers in the configuration', () => {
  it.each(['0x10', '1e1', ' 4 ', '+3', '4.0', '', '٣'])(
    'are decimal digits only: THREADLINE_WORKERS %j is refused',
    (value) => {
      expect(() => loadLlmConfig({ THREADLINE_WORKERS: value })).toThrow(
        `Invalid configuration: THREADLINE_WORKERS must be a whole number from 1 to 64, got ${JSON.stringify(value)}`,
      );
    },
  );

  it('take a fraction where the unit needs one, written plainly', () => {
    expect(loadLlmConfig({ MOCKER_DECODE_MS_PER_TOKEN: '2.5' }).mocker.decodeMsPerToken).toBe(2.5);
    for (const value of ['1e1', '.5', '5.', '0x1'])
      expect(() => loadLlmConfig({ MOCKER_DECODE_MS_PER_TOKEN: value }), value).toThrow(
        `Invalid configuration: MOCKER_DECODE_MS_PER_TOKEN must be a number from 0 to 10000, got ${JSON.stringify(value)}`,
      );
  });

  it.each([
    ['PORT', '0x50', 'must be a port number from 0 to 65535'],
    ['MAX_BODY_BYTES', '4e6', 'must be a whole number from 1024 to 1073741824'],
    ['THREADLINE_SHUTDOWN_GRACE_MS', '5000.0', 'must be a whole number from 0 to 3600000'],
  ])('%s %j is refused by name', (variable, value, reason) => {
    expect(() => loadAppConfig({ [variable]: value })).toThrow(
      `Invalid configuration: ${variable} ${reason}, got ${JSON.stringify(value)}`,
    );
  });
});

describe('the addresses in the configuration', () => {
  it.each(['', ' ', '127.0.0.1 ', 'http://0.0.0.0'])(
    'HOST %j is refused: an empty one would listen on every address',
    (value) => {
      expect(() => loadAppConfig({ HOST: value })).toThrow(
        `Invalid configuration: HOST must be a host name or an IP address, got ${JSON.stringify(value)}`,
      );
    },
  );

  it('HOST takes names and IPv4 or IPv6 addresses', () => {
    for (const host of ['localhost', '0.0.0.0', '::', '[::1]', 'svc.internal'])
      expect(loadAppConfig({ HOST: host }).host).toBe(host);
  });

  it.each(['nats://127.0.0.1:99999', 'nats://[::1', 'http://127.0.0.1:4222', 'nats://h :4222'])(
    'NATS_URL %j is refused rather than retried for ever',
    (value) => {
      expect(() => loadAppConfig({ NATS_URL: value })).toThrow(/^Invalid configuration: NATS_URL must be a NATS URL/);
    },
  );

  it('UPSTREAM_URL with a space in it is refused (the URL parser would drop it unseen)', () => {
    for (const value of [' http://h/v1', 'http://h/v1 '])
      expect(() => loadLlmConfig({ THREADLINE_ENGINE: 'openai', UPSTREAM_URL: value }), value).toThrow(
        `Invalid configuration: UPSTREAM_URL must be an http(s) URL, got ${JSON.stringify(value)}`,
      );
  });

  it('an empty UPSTREAM_API_KEY or UPSTREAM_MODEL is unset, as an env file writes it', () => {
    const upstream = loadLlmConfig({
      THREADLINE_ENGINE: 'openai',
      UPSTREAM_URL: 'http://h/v1',
      UPSTREAM_API_KEY: '',
      UPSTREAM_MODEL: '',
    }).upstream;
    expect({ apiKey: upstream.apiKey, model: upstream.model }).toEqual({
      apiKey: undefined,
      model: 'threadline-mocker',
    });
  });
});

describe('THREADLINE_COMPONENTS', () => {
  it('a name listed twice counts once: in one process, frontend twice still leaves the others out', () => {
    expect(() => loadAppConfig({ THREADLINE_COMPONENTS: 'frontend,frontend,frontend,frontend' })).toThrow(
      'Invalid configuration: THREADLINE_COMPONENTS lists only some components, which needs THREADLINE_TRANSPORT=nats to reach the others',
    );
    expect(
      loadAppConfig({ THREADLINE_TRANSPORT: 'nats', THREADLINE_COMPONENTS: 'worker, worker' }).runtime.components,
    ).toEqual(['worker']);
  });

  it('an empty name (a stray comma), or none at all, is refused, naming the variable', () => {
    for (const value of ['worker,worker,', ',worker', 'worker,,router', '', ' ']) {
      expect(() => loadAppConfig({ THREADLINE_TRANSPORT: 'nats', THREADLINE_COMPONENTS: value }), value).toThrow(
        `Invalid configuration: THREADLINE_COMPONENTS must be "all" or a comma list of`,
      );
    }
  });
});

describe('METRICS_PORT beside PORT', () => {
  it('cannot be the Frontend’s port: start-up stops naming it, not at listen', () => {
    expect(() => loadAppConfig({ PORT: '9000', METRICS_PORT: '9000' })).toThrow(
      'Invalid configuration: METRICS_PORT must not be PORT (9000), where the Frontend listens, got "9000"',
    );
    expect(() => loadAppConfig({ METRICS_PORT: '8080' })).toThrow('METRICS_PORT must not be PORT (8080)');
  });

  it('may be any port in a process without the Frontend, and 0 beside a PORT of 0', () => {
    const worker = { THREADLINE_TRANSPORT: 'nats', THREADLINE_COMPONENTS: 'worker', METRICS_PORT: '8080' };
    expect(loadAppConfig(worker).metricsPort).toBe(8080);
    expect(loadAppConfig({ PORT: '0', METRICS_PORT: '0' }).metricsPort).toBe(0);
  });
});
