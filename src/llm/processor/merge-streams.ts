/**
 * Yields the items of several streams as they arrive. If one fails, the others are stopped and the
 * error is thrown; stopping the merged stream stops them all. A single stream is returned as it is.
 */
export function mergeStreams<T>(streams: ReadonlyArray<AsyncIterable<T>>): AsyncIterable<T> {
  return streams.length === 1 ? streams[0]! : interleave(streams);
}

async function* interleave<T>(streams: ReadonlyArray<AsyncIterable<T>>): AsyncGenerator<T> {
  const iterators = streams.map((stream) => stream[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<T> }>>();
  const pull = (index: number) =>
    pending.set(
      index,
      iterators[index]!.next().then((result) => ({ index, result })),
    );
  iterators.forEach((_, index) => pull(index));
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) pending.delete(index);
      else {
        pull(index);
        yield result.value;
      }
    }
  } finally {
    for (const index of pending.keys()) {
      // Not awaited: a generator's return() waits for its pending next(), which may be far off.
      void iterators[index]!.return?.().catch(() => undefined);
    }
  }
}
