import { Counter } from 'prom-client';
import type { OpenMetricsContentType, Registry } from 'prom-client';
import { registerIn } from './register.js';

/** The Router's metrics: which worker it chose, and by which policy. */
export class RouterMetrics {
  private readonly decisions: Counter<'worker_id' | 'policy'>;

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
  }
}
