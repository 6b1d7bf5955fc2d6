import type { KvEvent } from '../kv/kv-events.js';
import type { LlmConfig } from '../llm.config.js';
import type { WorkerMeter } from '../../observability/metrics/worker.metrics.js';
import type { LlmEngine } from './llm-engine.js';
import { MockerEngine } from './mocker/mocker.engine.js';
import { OpenAIUpstreamEngine } from './openai/openai-upstream.engine.js';

/** The engine the configuration names; the one place that knows every kind. */
export function createEngine(
  config: LlmConfig,
  instanceId: string,
  onKvEvent: (event: KvEvent) => void,
  meter?: WorkerMeter,
): LlmEngine {
  switch (config.engine) {
    case 'mocker':
      return new MockerEngine(config.mocker, instanceId, onKvEvent, meter);
    case 'openai':
      return new OpenAIUpstreamEngine(config.upstream);
  }
}
