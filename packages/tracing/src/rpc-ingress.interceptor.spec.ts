import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { firstValueFrom, interval, Observable, of, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { getCurrentRequestId, runWithRequestId } from './request-context.js';
import { RequestIdResolver } from './request-id.resolver.js';
import { RpcIngressInterceptor } from './rpc-ingress.interceptor.js';
import { resolveTracingOptions } from './request-tracing.options.js';
import { createTracingLogger } from './tracing-logger.factory.js';
import { LogCapture } from '../../../test/support/log-capture.js';

function interceptor(options = {}) {
  const resolved = resolveTracingOptions({ ...options, logDestination: new LogCapture() });
  return new RpcIngressInterceptor(new RequestIdResolver(resolved, createTracingLogger(resolved)));
}

/** An RPC execution context whose transport context exposes `getHeaders()`, as NatsContext does. */
class MessageController {
  handle(this: void): void {}
}

function rpcContext(headers: unknown): ExecutionContextHost {
  const context = new ExecutionContextHost(
    [{ data: 1 }, { getHeaders: () => headers }],
    MessageController,
    MessageController.prototype.handle,
  );
  context.setType('rpc');
  return context;
}

/** A handler whose stream reports the request id it sees when it runs and when it emits later. */
const idReportingHandler = {
  handle: () =>
    new Observable<string | undefined>((subscriber) => {
      subscriber.next(getCurrentRequestId());
      const timer = setTimeout(() => {
        subscriber.next(getCurrentRequestId());
        subscriber.complete();
      }, 5);
      return () => clearTimeout(timer);
    }),
};

describe('RpcIngressInterceptor', () => {
  it('opens a context from a message header, its name matched case-insensitively', async () => {
    const seen = await firstValueFrom(
      interceptor()
        .intercept(rpcContext({ 'X-REQUEST-ID': 'rpc-1' }), idReportingHandler)
        .pipe(toArray()),
    );
    expect(seen).toEqual(['rpc-1', 'rpc-1']);
  });

  it('reads header classes with keys()/get() (NATS MsgHdrs, Fetch Headers)', async () => {
    const headers = new Headers({ 'x-request-id': 'rpc-2' });
    const seen = await firstValueFrom(interceptor().intercept(rpcContext(headers), idReportingHandler).pipe(toArray()));
    expect(seen).toEqual(['rpc-2', 'rpc-2']);
  });

  it.each([[{}], [undefined], [{ 'x-request-id': 'bad id' }], [{ 'x-request-id': 'a', 'X-Request-Id': 'b' }]])(
    'generates an id for message headers %j',
    async (headers) => {
      const [first, second] = await firstValueFrom(
        interceptor().intercept(rpcContext(headers), idReportingHandler).pipe(toArray()),
      );
      expect(first).toMatch(/^[0-9a-f-]{36}$/);
      expect(second).toBe(first);
    },
  );

  it('never carries the caller context into a message handler', async () => {
    const seen = await runWithRequestId('outer', () =>
      firstValueFrom(
        interceptor()
          .intercept(rpcContext({ 'x-request-id': 'inner' }), idReportingHandler)
          .pipe(toArray()),
      ),
    );
    expect(seen).toEqual(['inner', 'inner']);
  });

  it('unsubscribes from the handler stream when its subscriber goes away', async () => {
    let emitted = 0;
    let tornDown = false;
    const endless = {
      handle: () =>
        new Observable<number>((subscriber) => {
          const sub = interval(1).subscribe((n) => {
            emitted++;
            subscriber.next(n);
          });
          return () => {
            tornDown = true;
            sub.unsubscribe();
          };
        }),
    };
    await firstValueFrom(interceptor().intercept(rpcContext({}), endless).pipe(take(3), toArray()));
    expect(tornDown).toBe(true);
    const afterTeardown = emitted;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(emitted).toBe(afterTeardown);
  });

  it('passes an HTTP handler through unchanged outside any context', async () => {
    const http = new ExecutionContextHost([{}, {}]);
    const result = interceptor().intercept(http, { handle: () => of('plain') });
    expect(await firstValueFrom(result)).toBe('plain');
  });
});
