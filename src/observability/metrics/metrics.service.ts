import { Injectable } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';
import type { OpenMetricsContentType, RegistryContentType } from 'prom-client';
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from './exposition.js';
import type { Exposition } from './exposition.js';
import { FrontendMetrics } from './frontend.metrics.js';
import { RouterMetrics } from './router.metrics.js';
import { WorkerMetrics } from './worker.metrics.js';
import type { WorkerMeter } from './worker.metrics.js';

/**
 * The process's metrics: one prom-client registry, of its own (never prom-client's global one), which
 * the components report to and `GET /metrics` (or `METRICS_PORT`) renders. Each part's families are
 * registered when a component of that part first asks for them, so a worker process shows only the
 * workers' metrics.
 */
@Injectable()
export class MetricsService {
  // An OpenMetrics registry: prom-client keeps exemplars only for metrics registered in one.
  private readonly registry = openMetricsRegistry();
  private frontendMetrics: FrontendMetrics | undefined;
  private routerMetrics: RouterMetrics | undefined;
  private workerMetrics: WorkerMetrics | undefined;
  private rendering: Promise<unknown> = Promise.resolve();

  get frontend(): FrontendMetrics {
    return (this.frontendMetrics ??= new FrontendMetrics(this.registry));
  }

  get router(): RouterMetrics {
    return (this.routerMetrics ??= new RouterMetrics(this.registry));
  }

  /** The meter of worker (or prefill worker) instance `workerId`. */
  worker(workerId: string): WorkerMeter {
    return (this.workerMetrics ??= new WorkerMetrics(this.registry)).meter(workerId);
  }

  /** Every metric as OpenMetrics text (with exemplars), or else as Prometheus text. */
  render(openMetrics: boolean): Promise<Exposition> {
    // One rendering at a time: the registry's format is switched for each, and it is read across awaits.
    const next = this.rendering.then(() => this.renderNow(openMetrics));
    this.rendering = next.catch(() => undefined);
    return next;
  }

  private async renderNow(openMetrics: boolean): Promise<Exposition> {
    const contentType = openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE;
    (this.registry as Registry<RegistryContentType>).setContentType(contentType);
    if (!openMetrics) {
      // prom-client's OpenMetrics rendering renames a counter `x_total` to its family name `x`, in the
      // metric itself; the Prometheus text names the counter itself, so the name is put back.
      for (const metric of this.registry.getMetricsAsArray()) {
        if (metric instanceof Counter && !metric.name.endsWith('_total')) metric.name = `${metric.name}_total`;
      }
    }
    return { contentType, body: await this.registry.metrics() };
  }
}

function openMetricsRegistry(): Registry<OpenMetricsContentType> {
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return registry;
}
