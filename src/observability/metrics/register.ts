import type { Metric, OpenMetricsContentType, Registry } from 'prom-client';

/**
 * Adds metrics to the registry. Not through a metric's `registers` option: prom-client refuses there a
 * metric with exemplars while the registry renders Prometheus text, and a part's metrics may be created
 * (on its first request) during a scrape.
 */
export function registerIn(registry: Registry<OpenMetricsContentType>, metrics: ReadonlyArray<Metric<string>>): void {
  for (const metric of metrics) registry.registerMetric(metric);
}
