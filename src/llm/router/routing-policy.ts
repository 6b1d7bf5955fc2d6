import { RoundRobin } from '@threadline/runtime';
import type { RoutingPolicyKind } from '../llm.config.js';
import type { KvIndex } from './kv-index.js';

/** What a policy knows of one candidate worker. */
export interface Candidate {
  workerId: string;
  /** Share of the prompt's blocks the worker already caches (its leading ones), 0 to 1. */
  hitRate: number;
}

/** Picks one worker among the candidates. */
export interface RoutingPolicy {
  pick(candidates: readonly Candidate[]): Candidate;
}

class RoundRobinPolicy implements RoutingPolicy {
  private readonly turns = new RoundRobin();

  pick(candidates: readonly Candidate[]): Candidate {
    return this.turns.pick(candidates);
  }
}

class RandomPolicy implements RoutingPolicy {
  pick(candidates: readonly Candidate[]): Candidate {
    return candidates[Math.floor(Math.random() * candidates.length)]!;
  }
}

/**
 * KV-aware, as Dynamo's KV router scores: `2·hit − cacheUsage − waiting/maxWaiting`, the best score
 * wins, ties broken at random. Reusing a cached prefix saves its prefill; the load terms keep one
 * popular prefix from piling every request onto one worker.
 */
class KvAwarePolicy implements RoutingPolicy {
  constructor(private readonly index: KvIndex) {}

  pick(candidates: readonly Candidate[]): Candidate {
    let best: Candidate[] = [];
    let bestScore = Number.NEGATIVE_INFINITY;
    for (const candidate of candidates) {
      const score = this.score(candidate);
      if (score > bestScore) {
        bestScore = score;
        best = [candidate];
      } else if (score === bestScore) best.push(candidate);
    }
    return best[Math.floor(Math.random() * best.length)]!;
  }

  private score(candidate: Candidate): number {
    const load = this.index.load(candidate.workerId);
    if (load === undefined) return 2 * candidate.hitRate;
    const queue = load.maxWaiting > 0 ? load.waiting / load.maxWaiting : 0;
    return 2 * candidate.hitRate - load.cacheUsage - queue;
  }
}

/** The policy the configuration names. */
export function createRoutingPolicy(kind: RoutingPolicyKind, index: KvIndex): RoutingPolicy {
  switch (kind) {
    case 'kv':
      return new KvAwarePolicy(index);
    case 'round-robin':
      return new RoundRobinPolicy();
    case 'random':
      return new RandomPolicy();
  }
}
