import { Counter } from 'prom-client';
import type { OpenMetricsContentType, Registry } from 'prom-client';
import { registerIn } from './register.js';

/** The Router's metrics: which worker it chose, and by which policy. */
export class RouterMetrics {
  private readonly decisions: Counter<'worker_id' | 'policy'>;
  /** The series counted, by worker: dropped with the worker (`retain`). */
  private readonly policiesByWorker = new Map<string, Set<string>>();

  constructor(registry: Registry<OpenMetricsContentType>) {
    this.decisions = new Counter({
      name: 'threadline_router_decisions_total',
      help: 'Requests routed, by the worker chosen and the routing policy.',
      labelNames: ['worker_id', 'policy'],
      registers: [],
    });
    registerIn(registry, [this.decisions]);
  }

  decision(workerId: string, policy: string): void {
    this.decisions.inc({ worker_id: workerId, policy });
    let policies = this.policiesByWorker.get(workerId);
    if (policies === undefined) this.policiesByWorker.set(workerId, (policies = new Set()));
    policies.add(policy);
  }

  /**
   * Drops the series of workers no longer running: a worker's id names its process, so each restart
   * would otherwise add series that never go away.
   */
  retain(running: readonly string[]): void {
    for (const [workerId, policies] of this.policiesByWorker) {
      if (running.includes(workerId)) continue;
      for (const policy of policies) this.decisions.remove({ worker_id: workerId, policy });
      this.policiesByWorker.delete(workerId);
    }
  }
}
