import { Logger } from '@nestjs/common';
import { DeadlineExceededError } from '@threadline/tracing';
import {
  END_SPAN_WITH_ITERATION,
  IterationSpans,
  unwrapSpanEnding,
  cancelledFor,
  deadlineOf,
  getCurrentTraceparent,
  isThenable,
  runInStore,
  snapshotContext,
} from '@threadline/tracing/internal';
import type {
  ContextSnapshot,
  RequestStore,
  Span,
  SpanEndingHost,
  SpanItemObserver,
} from '@threadline/tracing/internal';
import { EndpointError } from './endpoint.error.js';
import type { EndpointErrorData } from './endpoint.error.js';
import { toAsyncIterable } from './stream-conversion.js';
import { isToldStopReason, stoppedCallFailure } from './told-stop-reason.js';

const logger = new Logger('Runtime');

type Where = Pick<EndpointErrorData, 'requestId' | 'component' | 'endpoint'>;

/**
 * The callee's side of one endpoint call, as the caller iterates it: every step runs in the callee's
 * context, whoever pulls (its log lines carry its component and the request id); a failure comes out as
 * an EndpointError; start and end are logged at debug level. An iterator object, not a wrapped generator.
 */
export class CalleeStream implements SpanEndingHost<unknown> {
  private inner: AsyncIterator<unknown> | undefined;
  /** The caller's spans around this stream (its `client` span), ended with it rather than by a wrapper. */
  private callerSpans: IterationSpans<unknown> | undefined;
  /** The spans the endpoint's own stream was wrapped to end (its generation span, say), ended here instead. */
  private innerSpans: IterationSpans<unknown> | undefined;
  private unary: 'pending' | 'given' | undefined;
  private finished = false;
  private items = 0;
  private readonly started: number;
  private readonly inCallee: ContextSnapshot;

  constructor(
    private readonly start: () => unknown,
    private readonly where: Where,
    instanceId: string,
    private readonly callId: string,
    private readonly store: RequestStore,
    private readonly debug: boolean,
    /** The call's `server` span, ended with the stream. */
    private readonly span?: Span,
  ) {
    this.started = debug ? performance.now() : 0;
    this.inCallee = snapshotContext(store);
    if (debug) {
      const traceparent = runInStore(store, () => getCurrentTraceparent());
      this.log(`handling ${where.component}.${where.endpoint}`, { instanceId, ...(traceparent && { traceparent }) });
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  [END_SPAN_WITH_ITERATION](span: Span, observer?: SpanItemObserver<unknown>): boolean {
    if (this.finished) return false;
    return (this.callerSpans ??= new IterationSpans()).add(span, observer);
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.finished) return Promise.resolve({ done: true, value: undefined });
    // A unary endpoint's answer was its one item: it ends here, without entering the callee again.
    if (this.unary === 'given') {
      try {
        return Promise.resolve(this.ended({ done: true, value: undefined }));
      } catch (error) {
        return Promise.reject(error);
      }
    }
    let step: Promise<IteratorResult<unknown>>;
    try {
      step = this.inCallee(CalleeStream.stepOf, this);
    } catch (error) {
      step = Promise.reject(error);
    }
    return step.then(
      (result) => {
        if (result.done) return this.ended(result);
        this.items++;
        this.innerSpans?.item(result.value);
        this.callerSpans?.item(result.value);
        return result;
      },
      (error: unknown) => {
        throw this.fail(error);
      },
    );
  }

  /** The endpoint's stream ended: its spans end, unless its deadline stopped it (then it fails). */
  private ended(result: IteratorResult<unknown>): IteratorResult<unknown> {
    // A stream that ends quietly once its deadline or a shutdown stopped it is cut short, not complete.
    this.innerSpans?.done();
    const cutShort = this.cutShort();
    if (cutShort !== undefined) throw this.fail(cutShort);
    this.finish('ended');
    this.callerSpans?.done();
    return result;
  }

  /** The caller stops early (a client gone, a stop sequence): the callee's stream is stopped too. */
  async return(value?: unknown): Promise<IteratorResult<unknown>> {
    this.callerSpans?.cancelled();
    if (!this.finished) {
      this.finish('cancelled');
      this.innerSpans?.cancelled();
      const inner = this.inner;
      if (inner?.return !== undefined) await runInStore(this.store, () => inner.return!(value));
    }
    return { done: true, value };
  }

  private static stepOf(this: void, call: CalleeStream): Promise<IteratorResult<unknown>> {
    return call.step();
  }

  private step(): Promise<IteratorResult<unknown>> {
    if (this.inner === undefined && this.unary === undefined) {
      const result = this.start();
      if (isThenable(result)) {
        // A unary endpoint: one item, with no iterator around it.
        this.unary = 'pending';
        return Promise.resolve(result).then((value) => {
          this.unary = 'given';
          return { done: false, value };
        });
      }
      this.inner = toAsyncIterable(result)[Symbol.asyncIterator]();
      const unwrapped = unwrapSpanEnding(this.inner);
      if (unwrapped !== undefined) {
        this.inner = unwrapped.source;
        this.innerSpans = unwrapped.spans;
      }
    }
    return this.inner!.next();
  }

  /** Why the call was stopped, when its caller must hear it (`isToldStopReason`). */
  private cutShort(): unknown {
    const overdue = this.overdue();
    if (overdue !== undefined) return overdue;
    const reason = cancelledFor(this.store)?.reason;
    return isToldStopReason(reason) ? reason : undefined;
  }

  /** The deadline's error, when the call's deadline has passed and the call was cancelled. */
  private overdue(): DeadlineExceededError | undefined {
    const deadline = deadlineOf(this.store);
    if (deadline === undefined || Date.now() < deadline) return undefined;
    const reason = cancelledFor(this.store)?.reason;
    if (reason === undefined || reason instanceof DeadlineExceededError) return reason;
    // Cancelled some other way once its deadline passed: its caller's cancel, sent when the caller's
    // timer for the same deadline fired before this side's, is the usual one.
    return new DeadlineExceededError();
  }

  private fail(error: unknown): EndpointError {
    // The endpoint's own spans fail with its error as it came, as their wrapper's would.
    this.innerSpans?.failed(error);
    // Once the request is cancelled, failures are its echo (aborted waits), not faults to report: the
    // call fails as it was stopped, as it does over NATS (a deadline's 504, a client gone's 499). An
    // expected refusal is reported once, by whoever answers the client.
    const cancelled = cancelledFor(this.store) !== undefined;
    const failure = cancelled ? stoppedCallFailure(this.cutShort(), this.where) : EndpointError.from(error, this.where);
    if (!cancelled && failure.status >= 500 && failure.expected !== true) {
      runInStore(this.store, () =>
        logger.error({
          msg: `${this.where.component}.${this.where.endpoint} failed: ${failure.message}`,
          err: error,
          callId: this.callId,
        }),
      );
    }
    if (!cancelled) this.span?.recordFailure(failure);
    this.finish(cancelled ? 'cancelled' : 'failed');
    // The caller's spans fail with what the caller gets, cancelled or not, as a wrapper's would.
    this.callerSpans?.failed(failure);
    return failure;
  }

  private finish(outcome: 'ended' | 'cancelled' | 'failed'): void {
    if (this.finished) return;
    this.finished = true;
    if (this.span !== undefined) {
      if (outcome === 'cancelled') this.span.setAttribute('threadline.cancelled', true);
      this.span.end();
    }
    if (this.debug) {
      const durationMs = Math.round(performance.now() - this.started);
      this.log(`${this.where.component}.${this.where.endpoint} ${outcome}`, { items: this.items, durationMs });
    }
  }

  private log(msg: string, fields: object): void {
    runInStore(this.store, () => logger.debug({ msg, endpoint: this.where.endpoint, callId: this.callId, ...fields }));
  }
}
