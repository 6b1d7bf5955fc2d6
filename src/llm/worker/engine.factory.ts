import type { LlmConfig } from '../llm.config.js';
import type { LlmEngine } from './llm-engine.js';
import { MockerEngine } from './mocker/mocker.engine.js';

/** The engine the configuration names; the one place that knows every kind. */
export function createEngine(config: LlmConfig, instanceId: string): LlmEngine {
  switch (config.engine) {
    case 'mocker':
      return new MockerEngine(config.mocker, instanceId);
  }
}
