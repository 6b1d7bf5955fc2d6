/**
 * Takes turns among the items of a list that may change between picks, with one turn per key (a
 * component's address, a queue): how the transports spread calls, and what a caller that picks an
 * instance itself (`CallOptions.instance`) among `client.instances()` can use.
 * @publicApi
 */
export class RoundRobin {
  private readonly turns = new Map<string, number>();

  /** The item whose turn it is in `key`'s rotation; `items` must not be empty. */
  pick<T>(items: readonly T[], key = ''): T {
    const index = (this.turns.get(key) ?? 0) % items.length;
    this.turns.set(key, index + 1);
    return items[index]!;
  }
}
