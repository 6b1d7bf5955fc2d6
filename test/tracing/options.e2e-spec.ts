import { Controller, Get, Injectable, Module } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAppConfig } from '../../src/config/app.config.js';
import { getCurrentRequestId, RequestTracingImportedTwiceError, RequestTracingModule } from '@threadline/tracing';
import { resolveTracingOptions } from '@threadline/tracing/internal';
import { LogCapture } from '../support/log-capture.js';
import { UUID_V4 } from '../support/raw-http.js';
import { PLATFORMS, startTestApp } from '../support/test-app.js';
import type { TestApp } from '../support/test-app.js';
import { waitFor } from '../support/wait-for.js';

@Controller()
class IdController {
  @Get('id')
  id() {
    return { id: getCurrentRequestId() };
  }
}

describe.each(PLATFORMS)('RequestTracingModule options on %s', (platform) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('trustIncoming: false ignores a valid incoming id and always generates one', async () => {
    t = await startTestApp({ platform, controllers: [IdController], tracing: { trustIncoming: false } });
    const res = await fetch(`${t.url}/id`, { headers: { 'x-request-id': 'client-chosen-1' } });
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(UUID_V4);
    expect(await res.json()).toEqual({ id });
    expect(t.logs.contains('client-chosen-1')).toBe(false);
  });

  it('reads and writes a custom header name, case-insensitively', async () => {
    t = await startTestApp({ platform, controllers: [IdController], tracing: { header: 'X-Correlation-ID' } });
    const res = await fetch(`${t.url}/id`, { headers: { 'x-correlation-id': 'corr-7' } });
    expect(res.headers.get('x-correlation-id')).toBe('corr-7');
    expect(res.headers.get('x-request-id')).toBeNull();
    expect(await res.json()).toEqual({ id: 'corr-7' });
  });

  it('writes human-readable lines with LOG_FORMAT=pretty, the id still on each', async () => {
    t = await startTestApp({ platform, controllers: [IdController], tracing: { logFormat: 'pretty' } });
    await (await fetch(`${t.url}/id`, { headers: { 'x-request-id': 'pretty-1' } })).arrayBuffer();
    // The access line that ends the request comes a little after the response.
    await waitFor(() => t!.logs.raw.find((line) => line.includes('request completed')));
    const requestLines = t.logs.raw.filter((line) => /incoming request|request completed/.test(line));
    expect(requestLines).toHaveLength(2);
    expect(requestLines[0]).toMatch(/INFO.*: \[pretty-1\] incoming request$/);
    for (const line of requestLines) expect(line).toContain('[pretty-1]');
    expect(t.logs.raw.every((line) => !line.startsWith('{'))).toBe(true);
  });

  it('uses a custom generator, and a custom maxLength', async () => {
    let n = 0;
    t = await startTestApp({
      platform,
      controllers: [IdController],
      tracing: { generateId: () => `gen-${++n}`, maxLength: 8 },
    });
    const kept = await fetch(`${t.url}/id`, { headers: { 'x-request-id': '12345678' } });
    expect(kept.headers.get('x-request-id')).toBe('12345678');
    const replaced = await fetch(`${t.url}/id`, { headers: { 'x-request-id': '123456789' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^gen-\d+$/);
  });

  it('forRootAsync takes its options from a factory with injected dependencies', async () => {
    @Injectable()
    class TracingSettings {
      readonly header = 'x-trace-id';
    }
    @Module({ providers: [TracingSettings], exports: [TracingSettings] })
    class SettingsModule {}

    const logs = new LogCapture();
    t = await startTestApp({
      platform,
      controllers: [IdController],
      tracingModule: RequestTracingModule.forRootAsync({
        imports: [SettingsModule],
        inject: [TracingSettings],
        useFactory: (settings: TracingSettings) => ({ header: settings.header, logDestination: logs }),
      }),
    });
    const res = await fetch(`${t.url}/id`, { headers: { 'x-trace-id': 'async-1' } });
    expect(res.headers.get('x-trace-id')).toBe('async-1');
    expect(await res.json()).toEqual({ id: 'async-1' });
  });

  it('forRootAsync: rpc from the factory, too late to register the RPC interceptor, stops start-up; given to forRootAsync itself, it is taken', async () => {
    await expect(
      startTestApp({
        platform,
        controllers: [IdController],
        tracingModule: RequestTracingModule.forRootAsync({
          useFactory: () => ({ rpc: true, logDestination: new LogCapture() }),
        }),
      }),
    ).rejects.toThrow(/"rpc": it came from forRootAsync\(\)'s factory/);
    t = await startTestApp({
      platform,
      controllers: [IdController],
      tracingModule: RequestTracingModule.forRootAsync({
        rpc: true,
        useFactory: () => ({ rpc: true, logDestination: new LogCapture() }),
      }),
    });
    expect((await fetch(`${t.url}/id`)).status).toBe(200);
  });

  it.each([
    [{ header: 'bad header' }, /"header"/],
    [{ maxLength: 0 }, /"maxLength"/],
    [{ maxLength: 5000 }, /"maxLength"/],
    // Shorter than the UUIDs generated for requests without an id: named, not blamed on the generator.
    [{ maxLength: 20 }, /"maxLength": it is 20, shorter than the 36 characters/],
    [{ logLevel: 'loud' }, /"logLevel"/],
    [{ logFormat: 'xml' }, /"logFormat"/],
    [{ generateId: () => 'has space' }, /"generateId"/],
  ])('stops start-up on a bad option %j', async (options, message) => {
    await expect(startTestApp({ platform, tracing: options as never })).rejects.toThrow(message);
  });

  it('stops start-up when imported twice with different options, and takes the same options twice as one import', async () => {
    @Module({ imports: [RequestTracingModule.forRoot({ header: 'x-other-id' })] })
    class FeatureModule {}
    await expect(startTestApp({ platform, controllers: [IdController], imports: [FeatureModule] })).rejects.toThrow(
      RequestTracingImportedTwiceError,
    );

    const destination = new LogCapture();
    @Module({ imports: [RequestTracingModule.forRoot({ logDestination: destination })] })
    class SameOptionsModule {}
    t = await startTestApp({
      platform,
      controllers: [IdController],
      tracingModule: RequestTracingModule.forRoot({ logDestination: destination }),
      imports: [SameOptionsModule],
    });
    const res = await fetch(`${t.url}/id`, { headers: { 'x-request-id': 'once-1' } });
    expect(await res.json()).toEqual({ id: 'once-1' });
  });

  it.runIf(platform === 'fastify')(
    "refuses Fastify's own requestIdHeader, which would bypass the policy (Fastify only: an option of FastifyAdapter)",
    async () => {
      @Module({ imports: [RequestTracingModule.forRoot({ logDestination: new LogCapture() })] })
      class AppModule {}
      const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
      const app = moduleRef.createNestApplication<NestFastifyApplication>(
        new FastifyAdapter({ requestIdHeader: 'x-request-id' }),
      );
      await expect(app.init()).rejects.toThrow(/requestIdHeader/);
      await app.close();
    },
  );
});

describe('configuration from the environment', () => {
  it('has the documented defaults', () => {
    const config = loadAppConfig({});
    expect(config).toMatchObject({ port: 8080, host: '127.0.0.1', requestLogging: true });
    expect(config.tracing).toMatchObject({
      header: 'x-request-id',
      trustIncoming: true,
      logFormat: 'json',
      logLevel: 'info',
    });
  });

  it('reads every variable', () => {
    const config = loadAppConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      LOG_REQUESTS: 'false',
      REQUEST_ID_HEADER: 'X-Trace',
      TRUST_INCOMING_REQUEST_ID: 'no',
      LOG_FORMAT: 'pretty',
      LOG_LEVEL: 'debug',
    });
    expect(config).toMatchObject({ port: 9000, host: '0.0.0.0', requestLogging: false });
    expect(config.tracing).toMatchObject({
      header: 'x-trace',
      trustIncoming: false,
      logFormat: 'pretty',
      logLevel: 'debug',
    });
  });

  it('refuses a header HTTP framing, credentials or trace context own as the id header, from the environment or forRoot()', () => {
    expect(() => loadAppConfig({ REQUEST_ID_HEADER: 'content-length' })).toThrow(
      'Invalid request-tracing option "REQUEST_ID_HEADER": must not be a header HTTP or another protocol owns (content-length,',
    );
    expect(() => resolveTracingOptions({ header: 'TraceParent' })).toThrow(
      /^Invalid request-tracing option "header": must not be a header HTTP or another protocol owns .*got "TraceParent"$/,
    );
    // A header of the application's own, whatever its name looks like, is taken.
    expect(loadAppConfig({ REQUEST_ID_HEADER: 'X-Correlation-Id' }).tracing.header).toBe('x-correlation-id');
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['LOG_REQUESTS', 'maybe'],
    ['REQUEST_ID_HEADER', 'a b'],
    // Headers HTTP framing, credentials or trace context own.
    ['REQUEST_ID_HEADER', 'content-length'],
    ['REQUEST_ID_HEADER', 'Transfer-Encoding'],
    ['REQUEST_ID_HEADER', 'host'],
    ['REQUEST_ID_HEADER', 'traceparent'],
    ['REQUEST_ID_HEADER', 'Authorization'],
    ['REQUEST_ID_HEADER', 'cookie'],
    ['TRUST_INCOMING_REQUEST_ID', 'sometimes'],
    // Taken as written, as numbers are: surrounding spaces are refused, not trimmed away.
    ['TRUST_INCOMING_REQUEST_ID', ' true '],
    ['LOG_REQUESTS', 'false '],
    ['LOG_FORMAT', 'xml'],
    ['LOG_LEVEL', 'loud'],
  ])('a bad %s=%s stops start-up with a message naming it', (name, value) => {
    expect(() => loadAppConfig({ [name]: value })).toThrow(new RegExp(`${name}.*${value}`));
  });
});
