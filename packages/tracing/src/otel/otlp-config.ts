// Reading the standard OpenTelemetry variables. This file imports no OpenTelemetry package, so a service
// can check its configuration at start-up and load the SDK only when export is asked for.
import { envValue as value, OtlpConfigError } from './otlp-env.js';
import { readSdkVariables } from './otlp-sdk-variables.js';
import type { OtlpSdkSettings } from './otlp-sdk-variables.js';

export { OtlpConfigError };

/** The OTLP encodings over HTTP that the export speaks. @publicApi */
export type OtlpProtocol = 'http/protobuf' | 'http/json';

/** The samplers of the OpenTelemetry specification that the export knows. @publicApi */
export type OtlpSamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

/** What the variables ask for when export is on. @publicApi */
export interface OtlpExportConfig {
  /** The full URL spans are posted to (`…/v1/traces`). */
  url: string;
  protocol: OtlpProtocol;
  /** `OTEL_SERVICE_NAME`, when set. */
  serviceName?: string;
  sampler: OtlpSamplerName;
  /** The ratio of the `*traceidratio` samplers, from 0 to 1. */
  ratio: number;
  /**
   * The SDK's own settings, read from the same variables (`readOtlpExportConfig` always sets them);
   * without them, the SDK reads its variables from `process.env`.
   */
  sdk?: OtlpSdkSettings;
}

const SAMPLERS: readonly OtlpSamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

/**
 * Reads the standard variables: `undefined` when export is off (`OTEL_SDK_DISABLED=true`, or no endpoint
 * set), else what they ask for, the SDK's own variables that apply to the export included (`OTEL_BSP_*`,
 * the exporter's headers, timeout and compression). A value that cannot work throws an
 * `OtlpConfigError` naming its variable.
 * @publicApi
 */
export function readOtlpExportConfig(env: NodeJS.ProcessEnv = process.env): OtlpExportConfig | undefined {
  // Every variable is checked, export on or off: a typo should not wait for the day export is turned on.
  const url = tracesUrl(env);
  const read = { protocol: protocol(env), ...sampler(env), sdk: readSdkVariables(env) };
  // As the specification says, only "true" (in any case, trimmed) disables; any other value leaves the SDK on.
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true' || url === undefined) return undefined;
  const config: OtlpExportConfig = { url, ...read };
  const serviceName = value(env, 'OTEL_SERVICE_NAME');
  if (serviceName !== undefined) config.serviceName = serviceName;
  return config;
}

function tracesUrl(env: NodeJS.ProcessEnv): string | undefined {
  // The signal's own endpoint is used as it is; the general one is a base the signal's path is added to.
  const own = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  if (own !== undefined) return httpUrl('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', own).href;
  const base = value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (base === undefined) return undefined;
  const url = httpUrl('OTEL_EXPORTER_OTLP_ENDPOINT', base);
  return `${url.href.replace(/\/+$/, '')}/v1/traces`;
}

function httpUrl(variable: string, text: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new OtlpConfigError(
      variable,
      `must be an http:// or https:// URL such as http://127.0.0.1:4318, got ${JSON.stringify(text)}`,
    );
  }
  return url;
}

function protocol(env: NodeJS.ProcessEnv): OtlpProtocol {
  const variable =
    value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') !== undefined
      ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
      : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const given = value(env, variable) ?? 'http/protobuf';
  // The specification reads enumerated values case-insensitively, as the sampler and compression are read.
  const name = given.toLowerCase();
  if (name !== 'http/protobuf' && name !== 'http/json') {
    throw new OtlpConfigError(variable, `must be "http/protobuf" or "http/json", got ${JSON.stringify(given)}`);
  }
  return name;
}

function sampler(env: NodeJS.ProcessEnv): Pick<OtlpExportConfig, 'sampler' | 'ratio'> {
  const name = (value(env, 'OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on').toLowerCase();
  if (!(SAMPLERS as readonly string[]).includes(name)) {
    throw new OtlpConfigError(
      'OTEL_TRACES_SAMPLER',
      `must be one of ${SAMPLERS.join(', ')}, got ${JSON.stringify(env.OTEL_TRACES_SAMPLER)}`,
    );
  }
  const arg = value(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (arg === undefined) return { sampler: name as OtlpSamplerName, ratio: 1 };
  const ratio = Number(arg);
  // Checked whatever the sampler, though only the ratio samplers use it: a typo is refused all the same.
  if (!/^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(arg) || !(ratio >= 0 && ratio <= 1)) {
    throw new OtlpConfigError('OTEL_TRACES_SAMPLER_ARG', `must be a number from 0 to 1, got ${JSON.stringify(arg)}`);
  }
  return { sampler: name as OtlpSamplerName, ratio: name.endsWith('traceidratio') ? ratio : 1 };
}
