import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogCapture } from '../../../test/support/log-capture.js';
import { getCurrentRequestId, runWithRequestId } from './request-context.js';
import { RequestId } from './request-id.decorator.js';
import { RequestIdResolver } from './request-id.resolver.js';
import { RequestIdService } from './request-id.service.js';
import { RequestTracingMixin } from './request-tracing.mixin.js';
import { RequestTracingModule } from './request-tracing.module.js';
import { resolveTracingOptions } from './request-tracing.options.js';
import { createTracingLogger } from './tracing-logger.factory.js';
import { tracingGlobals } from './tracing.globals.js';
import { Traced } from './traced.decorator.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function service(options = {}) {
  const logs = new LogCapture();
  const resolved = resolveTracingOptions({ ...options, logDestination: logs });
  return { requestIds: new RequestIdService(new RequestIdResolver(resolved, createTracingLogger(resolved))), logs };
}

describe('RequestIdService', () => {
  it('has no id outside a context, and the context id inside one', () => {
    const { requestIds } = service();
    expect(requestIds.id).toBeUndefined();
    expect(getCurrentRequestId()).toBeUndefined();
    runWithRequestId('ctx-1', () => expect(requestIds.id).toBe('ctx-1'));
    expect(requestIds.id).toBeUndefined();
  });

  it('run() opens a context with a valid id, replaces a bad one, and generates one when none is given', async () => {
    const { requestIds, logs } = service();
    expect(await requestIds.run(async () => getCurrentRequestId(), 'job-42')).toBe('job-42');
    expect(requestIds.run(() => getCurrentRequestId(), 'bad id')).toMatch(UUID);
    expect(requestIds.run(() => getCurrentRequestId())).toMatch(UUID);
    expect(logs.contains('bad id')).toBe(false);
  });

  it('run() keeps an application-supplied id even when incoming ids are not trusted', () => {
    const { requestIds } = service({ trustIncoming: false });
    expect(requestIds.run(() => getCurrentRequestId(), 'cron-1')).toBe('cron-1');
  });

  it('ensure() prefers a valid given id, then the current one, then a new one', () => {
    const { requestIds } = service();
    expect(requestIds.ensure('given-1')).toBe('given-1');
    runWithRequestId('current-1', () => {
      expect(requestIds.ensure()).toBe('current-1');
      expect(requestIds.ensure('not valid!')).toMatch(UUID);
    });
    expect(requestIds.ensure()).toMatch(UUID);
    expect(requestIds.id).toBeUndefined();
  });
});

describe('RequestTracingMixin', () => {
  class Base {
    constructor(readonly name: string) {}
  }
  class Worker extends RequestTracingMixin(Base) {}
  class Standalone extends RequestTracingMixin() {}

  it('keeps the base class and adds ensureRequestId()', () => {
    const worker = new Worker('w1');
    expect(worker.name).toBe('w1');
    expect(worker.ensureRequestId('given')).toBe('given');
    runWithRequestId('current', () => expect(worker.ensureRequestId()).toBe('current'));
    expect(new Standalone().ensureRequestId()).toMatch(UUID);
  });

  it('logWithRequestId() writes one line with the id and the class name', () => {
    const logs = new LogCapture();
    const previous = tracingGlobals.logger;
    tracingGlobals.logger = createTracingLogger(resolveTracingOptions({ logDestination: logs }));
    try {
      runWithRequestId('mix-1', () => new Worker('w').logWithRequestId('warn', 'careful', { step: 2 }));
    } finally {
      tracingGlobals.logger = previous;
    }
    expect(logs.lines).toEqual([
      expect.objectContaining({ level: 40, requestId: 'mix-1', context: 'Worker', step: 2, msg: 'careful' }),
    ]);
  });
});

describe('@RequestId() on a provider method', () => {
  @Injectable()
  class Greeter {
    @Traced()
    greet(name: string, @RequestId() requestId?: string): string {
      return `${name}:${requestId}:${getCurrentRequestId()}`;
    }
  }

  it('is filled from the context when the caller passes nothing, and kept when it passes one', () => {
    const greeter = new Greeter();
    runWithRequestId('req-9', () => {
      expect(greeter.greet('a')).toBe('a:req-9:req-9');
      expect(greeter.greet('b', 'explicit')).toBe('b:explicit:req-9');
    });
  });

  it('opens a context with the passed id when called outside any request', () => {
    expect(new Greeter().greet('c', 'entry-5')).toBe('c:entry-5:entry-5');
    const [, param, context] = new Greeter().greet('d').split(':');
    expect(param).toMatch(UUID);
    expect(context).toBe(param);
  });

  it('rejects @Traced() on something that is not a method', () => {
    expect(() => Traced()({}, 'field', { value: 42 } as PropertyDescriptor)).toThrow(/not a method/);
  });
});

describe("the mixin and @Traced() under the module's own maxLength", () => {
  class Mixed extends RequestTracingMixin() {}
  @Injectable()
  class Entry {
    @Traced()
    id(@RequestId() _requestId?: string): string | undefined {
      return getCurrentRequestId();
    }
  }
  const logs = new LogCapture();
  const previous = { ...tracingGlobals };
  let requestIds: RequestIdService;

  beforeAll(async () => {
    const module = await Test.createTestingModule({
      imports: [RequestTracingModule.forRoot({ maxLength: 64, logDestination: logs })],
    }).compile();
    requestIds = module.get(RequestIdService);
  });
  afterAll(() => Object.assign(tracingGlobals, previous));

  const refused = { 'longer than maxLength': 'a'.repeat(100), 'with a forbidden character': 'job 7' };

  it.each(Object.entries(refused))('refuse an id %s, as RequestIdService does', (_case, id) => {
    const before = logs.lines.length;
    const chosen = [requestIds.ensure(id), new Mixed().ensureRequestId(id), new Entry().id(id)];
    for (const replacement of chosen) expect(replacement).toMatch(UUID);
    const replaced = logs.lines
      .slice(before)
      .filter((line) => line.msg === 'incoming request id replaced by a generated one');
    expect(replaced.map((line) => line.requestId)).toEqual(chosen);
    expect(logs.contains(id)).toBe(false);
  });

  it('keep an id the service keeps', () => {
    const id = 'b'.repeat(64);
    expect([requestIds.ensure(id), new Mixed().ensureRequestId(id), new Entry().id(id)]).toEqual([id, id, id]);
  });
});
