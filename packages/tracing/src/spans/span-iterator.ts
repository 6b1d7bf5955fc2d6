import type { Span } from './span.js';

/**
 * Ends `span` with the iteration of `iterator`: at its end, at its error (the span then failed), or when
 * its consumer stops early (`threadline.cancelled`). `onItem` sees each item on its way, to record on
 * the span what the stream says. One iterator object, so an item crosses a single layer.
 */
export function endSpanWithIterator<T>(
  iterator: AsyncIterator<T>,
  span: Span,
  onItem?: (item: T, span: Span) => void,
): AsyncIterableIterator<T> {
  return new SpanEndingIterator(iterator, span, onItem);
}

class SpanEndingIterator<T> implements AsyncIterableIterator<T> {
  constructor(
    private readonly inner: AsyncIterator<T>,
    private readonly span: Span,
    private readonly onItem: ((item: T, span: Span) => void) | undefined,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    let step: Promise<IteratorResult<T>>;
    try {
      step = this.inner.next();
    } catch (error) {
      step = Promise.reject(error);
    }
    return step.then(this.settle, this.fail);
  }

  return(value?: unknown): Promise<IteratorResult<T>> {
    if (!this.span.isEnded) {
      this.span.setAttribute('threadline.cancelled', true);
      this.span.end();
    }
    return this.inner.return?.(value) ?? Promise.resolve({ done: true, value: value as T });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    if (this.inner.throw === undefined) return this.fail(error);
    return this.inner.throw(error).then(this.settle, this.fail);
  }

  private readonly settle = (result: IteratorResult<T>): IteratorResult<T> => {
    if (result.done) this.span.end();
    else this.onItem?.(result.value, this.span);
    return result;
  };

  private readonly fail = (error: unknown): never => {
    if (!this.span.isEnded) this.span.recordFailure(error).end();
    throw error;
  };
}
