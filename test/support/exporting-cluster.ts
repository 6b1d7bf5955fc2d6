import { afterAll, beforeAll } from 'vitest';
import { nats, startCluster, warmUp } from './cluster.js';
import type { Cluster, ProcessSpec } from './cluster.js';
import { startOtlpCollector } from './otlp-collector.js';
import type { OtlpCollector } from './otlp-collector.js';

/** The cluster of a suite and the collector its processes export to, set once the suite has started. */
export interface ExportingCluster {
  cluster: Cluster;
  collector: OtlpCollector;
}

/**
 * For the suite it is called in: service processes on a NATS server of their own, exporting their spans
 * to an OTLP collector of the test (`OTEL_EXPORTER_OTLP_ENDPOINT`, with `common` for every process),
 * warmed up before the first test; both stopped after the last.
 */
export function exportingCluster(specs: ProcessSpec[], common: NodeJS.ProcessEnv = {}): ExportingCluster {
  const running = {} as Partial<ExportingCluster>;
  beforeAll(async () => {
    const collector = (running.collector = await startOtlpCollector());
    running.cluster = await startCluster(await nats(), specs, {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      ...common,
    });
    await warmUp(running.cluster, ['worker']);
  }, 120_000);
  afterAll(async () => {
    await running.cluster?.stop();
    await running.collector?.close();
  }, 30_000);
  return running as ExportingCluster;
}
