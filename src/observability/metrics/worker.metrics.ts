import { Counter, Gauge } from 'prom-client';
import type { OpenMetricsContentType, Registry } from 'prom-client';
import { registerIn } from './register.js';

/** Why a worker refused a request: its running slots and its queue were full. */
export type WorkerRejectionReason = 'queue_full';

/** A worker's load, read at each scrape. */
export interface WorkerLoadSample {
  running: number;
  waiting: number;
  /** Share of its KV cache blocks in use, 0 to 1. */
  cacheUsage: number;
}

/** What one worker instance reports; its series carry its instance id as `worker_id`. */
export interface WorkerMeter {
  /** Has `read` give the worker's load whenever the metrics are scraped. */
  watchLoad(read: () => WorkerLoadSample): void;
  /** A prompt's `blocks` KV blocks were looked up in the cache; its first `hits` were there. */
  prefixLookup(hits: number, blocks: number): void;
  rejected(reason: WorkerRejectionReason): void;
}

/** The workers' metrics, named as Dynamo's worker metrics under `threadline_worker_`. */
export class WorkerMetrics {
  private readonly loads = new Map<string, () => WorkerLoadSample>();
  private readonly prefixHits: Counter<'worker_id'>;
  private readonly prefixLookups: Counter<'worker_id'>;
  private readonly rejections: Counter<'worker_id' | 'reason'>;

  constructor(registry: Registry<OpenMetricsContentType>) {
    const registers: [] = [];
    const loads = this.loads;
    const gauge = (name: string, help: string, read: (load: WorkerLoadSample) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['worker_id'] as const,
        registers,
        // Read when scraped: the scheduler and the cache change far more often than anyone looks.
        collect() {
          for (const [workerId, load] of loads) this.set({ worker_id: workerId }, read(load()));
        },
      });
    const running = gauge(
      'threadline_worker_running_sequences',
      'Sequences the worker is generating now.',
      (load) => load.running,
    );
    const waiting = gauge(
      'threadline_worker_waiting_sequences',
      'Sequences queued for a running slot.',
      (load) => load.waiting,
    );
    const cacheUsage = gauge(
      'threadline_worker_kv_cache_usage_ratio',
      "Share of the worker's KV cache blocks in use.",
      (load) => load.cacheUsage,
    );
    this.prefixHits = new Counter({
      name: 'threadline_worker_prefix_cache_hits_total',
      help: 'Prompt KV blocks found in the cache (the leading blocks a prompt shares with earlier ones).',
      labelNames: ['worker_id'],
      registers,
    });
    this.prefixLookups = new Counter({
      name: 'threadline_worker_prefix_cache_lookups_total',
      help: 'Prompt KV blocks looked up in the cache.',
      labelNames: ['worker_id'],
      registers,
    });
    this.rejections = new Counter({
      name: 'threadline_worker_rejections_total',
      help: 'Requests the worker refused, by reason.',
      labelNames: ['worker_id', 'reason'],
      registers,
    });
    registerIn(registry, [running, waiting, cacheUsage, this.prefixHits, this.prefixLookups, this.rejections]);
  }

  /** The meter of worker instance `workerId`. */
  meter(workerId: string): WorkerMeter {
    const labels = { worker_id: workerId };
    const hits = this.prefixHits.labels(labels);
    const lookups = this.prefixLookups.labels(labels);
    // Zero from the start, so that a rate over them is defined before the first prompt.
    hits.inc(0);
    lookups.inc(0);
    return {
      watchLoad: (read) => this.loads.set(workerId, read),
      prefixLookup: (hitBlocks, blocks) => {
        hits.inc(hitBlocks);
        lookups.inc(blocks);
      },
      rejected: (reason) => this.rejections.inc({ worker_id: workerId, reason }),
    };
  }
}
