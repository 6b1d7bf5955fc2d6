// @threadline/tracing/otel: Threadline's spans exported over OTLP with the OpenTelemetry SDK, as the
// standard OTEL_* variables ask. Its OpenTelemetry packages are optional peers: only this entry loads them.

export { startOtlpExport } from './otlp-export.js';
export type { OtlpExport, OtlpExportOptions } from './otlp-export.js';
export type { OtlpExportLogger } from './export-reporting.js';
export { OtlpConfigError, readOtlpExportConfig } from './otlp-config.js';
export type { OtlpExportConfig, OtlpProtocol, OtlpSamplerName } from './otlp-config.js';
export type { OtlpSdkSettings } from './otlp-sdk-variables.js';
