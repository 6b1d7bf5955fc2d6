import type { Span } from './span.js';

/**
 * The method by which an async iterator takes spans to end with its own iteration, as
 * `endSpanWithIterator` would around it: it returns `false` (having taken nothing) once its iteration
 * is over. An iterator that already settles each step (the runtime's callee streams) spares a span
 * around it a promise per item this way.
 */
export const END_SPAN_WITH_ITERATION = Symbol('threadline.endSpanWithIteration');

/**
 * What `endSpanWithIterator` can be given to record on its span what a stream's items say. An object of
 * one class, not a function: it is called for every item, and a method of a class the caller always
 * passes is one the compiler can inline there, where a closure made per stream is called as a function
 * each time.
 */
export interface SpanItemObserver<T> {
  /** Sees each item on its way to the consumer: keep it to counting; write to the span in `onIterationEnd`. */
  onItem(item: T, span: Span): void;
  /** The iteration is over (it ended, failed or was stopped), and the span is about to end. */
  onIterationEnd?(span: Span): void;
}

/** An iterator that ends spans with its own iteration (see `END_SPAN_WITH_ITERATION`). */
export interface SpanEndingHost<T> extends AsyncIterableIterator<T> {
  [END_SPAN_WITH_ITERATION](span: Span, observer?: SpanItemObserver<T>): boolean;
}

/**
 * Ends `span` with the iteration of `iterator`: at its end, at its error (the span then failed), or when
 * its consumer stops early (`threadline.cancelled`). `observer` sees each item on its way, to record on
 * the span what the stream says. An iterator that can end spans itself (`END_SPAN_WITH_ITERATION`: the
 * runtime's callee streams, or an iterator this returned) takes the span and is returned as it is, so
 * spans around one stream add no layer per item; any other is wrapped in one iterator object.
 */
export function endSpanWithIterator<T>(
  iterator: AsyncIterator<T>,
  span: Span,
  observer?: SpanItemObserver<T>,
): AsyncIterableIterator<T> {
  const host = iterator as Partial<SpanEndingHost<T>>;
  if (host[END_SPAN_WITH_ITERATION]?.(span, observer) === true) return host as SpanEndingHost<T>;
  const wrapper = new SpanEndingIterator(iterator);
  wrapper[END_SPAN_WITH_ITERATION](span, observer);
  return wrapper;
}

interface ObservedSpan<T> {
  span: Span;
  observer: SpanItemObserver<T>;
}

/**
 * The spans an iteration ends, in the order they were added (innermost first): what a stack of
 * `endSpanWithIterator` wrappers would do to them, done by whoever iterates.
 */
export class IterationSpans<T> {
  private readonly spans: Span[] = [];
  /** The spans whose items are watched, if any are: most ride on a stream only to end with it. */
  private observed: Array<ObservedSpan<T>> | undefined;
  private over = false;

  /** Adds `span`; `false` once the iteration is over (the span is not taken). */
  add(span: Span, observer?: SpanItemObserver<T>): boolean {
    if (this.over) return false;
    this.spans.push(span);
    if (observer !== undefined) (this.observed ??= []).push({ span, observer });
    return true;
  }

  /** An item on its way to the consumer. */
  item(item: T): void {
    const observed = this.observed;
    if (observed === undefined) return;
    // Not for-of: this runs for every item of every stream, and V8 does not compile the iteration away here.
    // eslint-disable-next-line @typescript-eslint/prefer-for-of
    for (let i = 0; i < observed.length; i++) observed[i]!.observer.onItem(item, observed[i]!.span);
  }

  /** The iteration ended. */
  done(): void {
    this.finish();
    for (const span of this.spans) span.end();
  }

  /** The iteration failed with `error`, the error its consumer gets. */
  failed(error: unknown): void {
    this.finish();
    for (const span of this.spans) if (!span.isEnded) span.recordFailure(error).end();
  }

  /** The consumer stopped early: the outermost span first, as the wrappers' `return()` would reach them. */
  cancelled(): void {
    this.finish();
    for (let i = this.spans.length - 1; i >= 0; i--) {
      const span = this.spans[i]!;
      if (!span.isEnded) span.setAttribute('threadline.cancelled', true).end();
    }
  }

  private finish(): void {
    if (this.over) return;
    this.over = true;
    for (const { span, observer } of this.observed ?? []) observer.onIterationEnd?.(span);
  }
}

/**
 * When `iterator` is a wrapper `endSpanWithIterator` made and nobody has read it yet: the iterator it
 * wraps and the spans it was to end, handed over (the wrapper is then spent). An iterator that ends
 * spans itself (the runtime's callee stream) reads the source directly and ends those spans as the
 * wrapper would have, innermost first, sparing a step per item.
 */
export function unwrapSpanEnding<T>(
  iterator: AsyncIterator<T>,
): { source: AsyncIterator<T>; spans: IterationSpans<T> } | undefined {
  return iterator instanceof SpanEndingIterator ? (iterator as SpanEndingIterator<T>).handOver() : undefined;
}

class SpanEndingIterator<T> implements SpanEndingHost<T> {
  private readonly spans = new IterationSpans<T>();
  /** Read, or handed over: from then on it is this iterator's own. */
  private taken = false;

  constructor(private readonly inner: AsyncIterator<T>) {}

  handOver(): { source: AsyncIterator<T>; spans: IterationSpans<T> } | undefined {
    if (this.taken) return undefined;
    this.taken = true;
    return { source: this.inner, spans: this.spans };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  [END_SPAN_WITH_ITERATION](span: Span, observer?: SpanItemObserver<T>): boolean {
    return this.spans.add(span, observer);
  }

  next(): Promise<IteratorResult<T>> {
    this.taken = true;
    let step: Promise<IteratorResult<T>>;
    try {
      step = this.inner.next();
    } catch (error) {
      step = Promise.reject(error);
    }
    return step.then(this.settle, this.fail);
  }

  return(value?: unknown): Promise<IteratorResult<T>> {
    this.taken = true;
    this.spans.cancelled();
    return this.inner.return?.(value) ?? Promise.resolve({ done: true, value: value as T });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.taken = true;
    if (this.inner.throw === undefined) return this.fail(error);
    return this.inner.throw(error).then(this.settle, this.fail);
  }

  private readonly settle = (result: IteratorResult<T>): IteratorResult<T> => {
    if (result.done) this.spans.done();
    else this.spans.item(result.value);
    return result;
  };

  private readonly fail = (error: unknown): never => {
    this.spans.failed(error);
    throw error;
  };
}
