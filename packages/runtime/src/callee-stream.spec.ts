import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientDisconnectedError, DeadlineExceededError } from '@threadline/tracing';
import { createStore, RequestCancellation, setDeadlineOf } from '@threadline/tracing/internal';
import { CalleeStream } from './callee-stream.js';

const where = { requestId: 'callee-1', component: 'answerer', endpoint: 'slow' };

/** A unary call whose answer comes after its deadline, its cancellation aborted first by `reason`. */
async function lateAnswer(reason: Error): Promise<unknown> {
  const cancellation = new RequestCancellation();
  const store = createStore('callee-1', cancellation);
  setDeadlineOf(store, Date.now() - 1);
  cancellation.abort(reason);
  const stream = new CalleeStream(() => Promise.resolve({ late: true }), where, 'answerer-1', 'call-1', store, false);
  await expect(stream.next()).resolves.toEqual({ done: false, value: { late: true } });
  return stream.next().catch((error: unknown) => error);
}

describe('CalleeStream', () => {
  it('fails an answer that ends after its deadline with a 504, whatever aborted the call first', async () => {
    // The call's own timer, or its caller's cancel message when the caller's timer fired first.
    for (const reason of [new DeadlineExceededError(), new Error('The caller cancelled the call.')])
      expect(await lateAnswer(reason)).toMatchObject({ status: 504, code: 'deadline_exceeded', requestId: 'callee-1' });
  });

  it('fails as it was stopped when its endpoint throws the abort of its own waits: 504 deadline, 499 client gone', async () => {
    const stopped = async (reason: Error, deadline?: number) => {
      const cancellation = new RequestCancellation();
      const store = createStore('callee-1', cancellation);
      if (deadline !== undefined) setDeadlineOf(store, deadline);
      // An endpoint that passes its signal to an abortable wait, which rejects with an AbortError.
      const endpoint = () => sleep(10_000, undefined, { signal: cancellation.signal });
      const stream = new CalleeStream(endpoint, where, 'answerer-1', 'call-1', store, false);
      const first = stream.next().catch((error: unknown) => error);
      cancellation.abort(reason);
      return first;
    };
    expect(await stopped(new DeadlineExceededError(), Date.now() - 1)).toMatchObject({
      status: 504,
      code: 'deadline_exceeded',
      requestId: 'callee-1',
    });
    expect(await stopped(new ClientDisconnectedError())).toMatchObject({
      status: 499,
      code: 'cancelled',
      requestId: 'callee-1',
    });
  });
});
