import type { TestingModule } from '@nestjs/testing';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { Component, Endpoint, EndpointError, getComponentToken, unary } from '@threadline/runtime';
import type { ComponentClient, EndpointContext } from '@threadline/runtime';
import { getCurrentRequestId, outboundTracingHeaders, RequestIdService, setRequestDeadline } from '@threadline/tracing';
import { createStore, runInStore } from '@threadline/tracing/internal';
import { LogCapture } from '../support/log-capture.js';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import { startNatsSide } from '../support/nats-side.js';
import type { NatsServer } from '../support/nats-server.js';
import { waitUntil } from '../support/wait-for.js';

/** How each call of `Answerer.slow` ended on the callee, by request id. */
const slowCalls = new Map<string, 'aborted' | 'answered'>();
/** What `getCurrentRequestId()` said in each `Answerer.slow` call's abort listener, by request id. */
const abortListenerIds = new Map<string, string | undefined>();

/** Endpoints that answer once (their methods return a promise): the callee takes their answer whole. */
@Component({ name: 'unary-answerer' })
class Answerer {
  @Endpoint()
  async answer(request: { text: string; size: number }): Promise<{ text: string; id?: string; pad?: string }> {
    await sleep(1);
    return {
      text: request.text,
      id: getCurrentRequestId(),
      ...(request.size > 0 && { pad: 'x'.repeat(request.size) }),
    };
  }

  /** Fails before it returns a promise (`sync`), or with the promise it returns. */
  @Endpoint()
  refuse(request: { sync: boolean }): Promise<never> {
    const refusal = Object.assign(new Error(`no, ${request.sync ? 'at once' : 'later'}`), { status: 409 });
    if (request.sync) throw refusal;
    return sleep(1).then(() => {
      throw refusal;
    });
  }

  /** The headers a call out of the callee would carry: the trace context the call brought. */
  @Endpoint()
  async passOn(): Promise<Record<string, string>> {
    await sleep(1);
    return outboundTracingHeaders();
  }

  /** Answers after `ms`, whatever its signal says, and notes whether the signal was aborted by then. */
  @Endpoint()
  async slow(request: { ms: number }, context: EndpointContext): Promise<{ late: true }> {
    const { requestId, signal } = context;
    signal.addEventListener('abort', () => abortListenerIds.set(requestId, getCurrentRequestId()), { once: true });
    await sleep(request.ms);
    slowCalls.set(context.requestId, context.signal.aborted ? 'aborted' : 'answered');
    return { late: true };
  }
}

const logs = new LogCapture();

/** One side of the test: serving `Answerer`, or calling it. */
function startSide(url: string, serve: boolean): Promise<TestingModule> {
  return startNatsSide({
    components: [Answerer],
    serve: serve ? [Answerer] : [],
    nats: { url, shutdownGraceMs: 500, pacing: { frames: 4, bytes: 64 * 1024 } },
    tracing: { logLevel: 'debug', logDestination: logs },
  });
}

describeWithNats('unary endpoints over NATS', () => {
  let nats: NatsServer;
  let callee: TestingModule;
  let caller: TestingModule;
  let client: ComponentClient<Answerer>;
  let requestIds: RequestIdService;

  beforeAll(async () => {
    nats = await startNatsServer({ maxPayload: 64 * 1024 });
    callee = await startSide(nats.url, true);
    caller = await startSide(nats.url, false);
    client = caller.get<ComponentClient<Answerer>>(getComponentToken(Answerer));
    requestIds = caller.get(RequestIdService);
    await waitUntil(async () => (await client.instances()).length > 0, 10_000);
  }, 30_000);
  afterAll(async () => {
    await caller?.close();
    await callee?.close();
    await nats?.stop();
  });
  beforeEach(() => logs.clear());

  /** The callee's debug line that says how a call of `endpoint` in request `requestId` ended. */
  function endLine(requestId: string, endpoint: string) {
    const pattern = new RegExp(`^unary-answerer\\.${endpoint} (ended|cancelled|failed)$`);
    return logs.forRequest(requestId).find((line) => pattern.test(String(line.msg)));
  }

  it('answers in the callee’s context of the request, and the call ends with its one item', async () => {
    const answer = await requestIds.run(() => unary(client.answer({ text: 'hello', size: 0 })), 'unary-1');
    expect(answer).toEqual({ text: 'hello', id: 'unary-1' });
    await waitUntil(() => endLine('unary-1', 'answer') !== undefined, 5000);
    expect(endLine('unary-1', 'answer')).toMatchObject({ msg: 'unary-answerer.answer ended', items: 1 });
  });

  it("carries the request's traceparent and tracestate to the callee, which passes them on", async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const tracestate = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';
    const store = createStore('unary-tracestate', undefined, traceparent, tracestate);
    const headers = await runInStore(store, () => unary(client.passOn(undefined)));
    expect(headers).toEqual({ 'x-request-id': 'unary-tracestate', traceparent, tracestate });
  });

  it('sends an answer larger than a message in parts, paced by the caller, whole', async () => {
    const answer = await requestIds.run(() => unary(client.answer({ text: 'large', size: 400_000 })), 'unary-2');
    expect(answer).toEqual({ text: 'large', id: 'unary-2', pad: 'x'.repeat(400_000) });
    expect(logs.contains('its caller read nothing')).toBe(false);
  }, 20_000);

  it('fails the call with the endpoint’s error, thrown before its promise or rejecting it', async () => {
    for (const sync of [true, false]) {
      const requestId = `unary-refused-${sync}`;
      const failure = await requestIds.run(() => unary(client.refuse({ sync })).catch((e: unknown) => e), requestId);
      expect(failure).toBeInstanceOf(EndpointError);
      expect(failure).toMatchObject({
        requestId,
        component: 'unary-answerer',
        endpoint: 'refuse',
        status: 409,
        message: sync ? 'no, at once' : 'no, later',
      });
      await waitUntil(() => endLine(requestId, 'refuse') !== undefined, 5000);
      expect(endLine(requestId, 'refuse')).toMatchObject({ msg: 'unary-answerer.refuse failed', items: 0 });
    }
  });

  it('does not send an answer that came after the call’s deadline: the call is cut short', async () => {
    const failure = await requestIds.run(() => {
      setRequestDeadline(Date.now() + 100);
      return unary(client.slow({ ms: 400 })).catch((e: unknown) => e);
    }, 'unary-late');
    expect(failure).toMatchObject({ status: 504, code: 'deadline_exceeded', requestId: 'unary-late' });
    await waitUntil(() => slowCalls.has('unary-late'), 5000);
    expect(slowCalls.get('unary-late')).toBe('aborted');
    // Its abort listener ran in the call's context: what it logs has the request id.
    expect(abortListenerIds.get('unary-late')).toBe('unary-late');
    await waitUntil(() => endLine('unary-late', 'slow') !== undefined, 5000);
    expect(endLine('unary-late', 'slow')).toMatchObject({ msg: 'unary-answerer.slow cancelled', items: 1 });
  });
});
