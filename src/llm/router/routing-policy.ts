import type { RouterPolicy } from '../llm.config.js';

/** Picks one worker among the candidates. */
export interface RoutingPolicy {
  pick(candidates: readonly string[]): string;
}

class RoundRobinPolicy implements RoutingPolicy {
  private next = 0;

  pick(candidates: readonly string[]): string {
    return candidates[this.next++ % candidates.length]!;
  }
}

class RandomPolicy implements RoutingPolicy {
  pick(candidates: readonly string[]): string {
    return candidates[Math.floor(Math.random() * candidates.length)]!;
  }
}

/** The policy the configuration names. */
export function createRoutingPolicy(kind: RouterPolicy): RoutingPolicy {
  switch (kind) {
    case 'round-robin':
      return new RoundRobinPolicy();
    case 'random':
      return new RandomPolicy();
  }
}
