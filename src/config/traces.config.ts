import { OtlpConfigError, readOtlpExportConfig } from '@threadline/tracing/internal';
import type { OtlpExportConfig } from '@threadline/tracing/internal';
import { ConfigError } from './config.error.js';

/**
 * Where the service exports its spans, from the standard OpenTelemetry variables (docs/configuration.md,
 * "Traces"); `undefined` when export is off. Read without loading OpenTelemetry, which is loaded only
 * when export is on.
 */
export function loadTraceExport(env: NodeJS.ProcessEnv): OtlpExportConfig | undefined {
  try {
    return readOtlpExportConfig(env);
  } catch (error) {
    if (error instanceof OtlpConfigError) throw new ConfigError(error.variable, error.reason);
    throw error;
  }
}
