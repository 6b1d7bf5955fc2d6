// The OpenTelemetry SDK's own variables that apply to the export: the batch processor's (`OTEL_BSP_*`),
// the exporter's headers, timeout and compression, and the resource's attributes. Left to the SDK, they
// would be read from `process.env` whatever environment the export was given, and a value it cannot use
// would fall back to its default with a diagnostic nobody sees (no diag logger is set). They are read
// here instead, from the same environment as the rest, and such a value stops start-up naming it.
// This file imports no OpenTelemetry package, like the rest of the configuration.
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { envValue as value, OtlpConfigError } from './otlp-env.js';

/** What the SDK's own variables ask of the export; a setting left out keeps the SDK's default. @publicApi */
export interface OtlpSdkSettings {
  /** The batch span processor's settings, from `OTEL_BSP_*`. */
  batch: {
    scheduledDelayMillis?: number;
    exportTimeoutMillis?: number;
    maxQueueSize?: number;
    maxExportBatchSize?: number;
  };
  /** Sent with every export: `OTEL_EXPORTER_OTLP_HEADERS`, and `…_TRACES_HEADERS` over them. */
  headers?: Record<string, string>;
  /** `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`. */
  timeoutMillis?: number;
  /** `OTEL_EXPORTER_OTLP_TRACES_COMPRESSION`, else `OTEL_EXPORTER_OTLP_COMPRESSION`. */
  compression?: 'gzip' | 'none';
  /** The resource's attributes from `OTEL_RESOURCE_ATTRIBUTES` (`OTEL_SERVICE_NAME` wins for `service.name`). */
  resourceAttributes?: Record<string, string>;
}

/** The batch processor's settings, each with its variable, its least value and its unit. */
const BATCH_VARIABLES = [
  ['scheduledDelayMillis', 'OTEL_BSP_SCHEDULE_DELAY', 0, 'milliseconds'],
  ['exportTimeoutMillis', 'OTEL_BSP_EXPORT_TIMEOUT', 0, 'milliseconds'],
  ['maxQueueSize', 'OTEL_BSP_MAX_QUEUE_SIZE', 1, 'spans'],
  ['maxExportBatchSize', 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 1, 'spans'],
] as const;

/** The batch processor's defaults, which `OTEL_BSP_*` replace. */
const DEFAULT_MAX_QUEUE_SIZE = 2048;
const DEFAULT_MAX_EXPORT_BATCH_SIZE = 512;

/** Reads the SDK's variables; throws an `OtlpConfigError` naming one that holds a value it cannot use. */
export function readSdkVariables(env: NodeJS.ProcessEnv): OtlpSdkSettings {
  const batch: OtlpSdkSettings['batch'] = {};
  for (const [setting, variable, min, unit] of BATCH_VARIABLES) {
    const given = wholeNumber(env, variable, min, unit);
    if (given !== undefined) batch[setting] = given;
  }
  const queue = batch.maxQueueSize ?? DEFAULT_MAX_QUEUE_SIZE;
  if (batch.maxExportBatchSize === undefined) {
    // A queue smaller than the default batch: the batch is the queue, as the SDK makes it.
    if (queue < DEFAULT_MAX_EXPORT_BATCH_SIZE) batch.maxExportBatchSize = queue;
  } else if (batch.maxExportBatchSize > queue) {
    // Set both ways: the SDK would quietly cut the batch to the queue.
    throw new OtlpConfigError(
      'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
      `must be at most the queue's size (OTEL_BSP_MAX_QUEUE_SIZE, ${queue}), got ${JSON.stringify(String(batch.maxExportBatchSize))}`,
    );
  }
  const settings: OtlpSdkSettings = { batch };
  const headers = {
    ...pairList(env, 'OTEL_EXPORTER_OTLP_HEADERS', headerRefusal),
    ...pairList(env, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', headerRefusal),
  };
  if (Object.keys(headers).length > 0) settings.headers = headers;
  const ownTimeout = wholeNumber(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 1, 'milliseconds');
  const timeoutMillis = ownTimeout ?? wholeNumber(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', 1, 'milliseconds');
  if (timeoutMillis !== undefined) settings.timeoutMillis = timeoutMillis;
  const compression =
    compressionOf(env, 'OTEL_EXPORTER_OTLP_TRACES_COMPRESSION') ?? compressionOf(env, 'OTEL_EXPORTER_OTLP_COMPRESSION');
  if (compression !== undefined) settings.compression = compression;
  const resourceAttributes = pairList(env, 'OTEL_RESOURCE_ATTRIBUTES', () => undefined);
  if (Object.keys(resourceAttributes).length > 0) settings.resourceAttributes = resourceAttributes;
  return settings;
}

/** The longest a Node timer waits, in milliseconds: a longer one fires at once, with a warning. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1;

function wholeNumber(env: NodeJS.ProcessEnv, variable: string, min: number, unit: string): number | undefined {
  const given = value(env, variable);
  if (given === undefined) return undefined;
  const number = Number(given);
  const max = unit === 'milliseconds' ? MAX_TIMER_MILLIS : Number.MAX_SAFE_INTEGER;
  if (!/^\d+$/.test(given) || !Number.isSafeInteger(number) || number < min || number > max) {
    const range = max === MAX_TIMER_MILLIS ? `from ${min} to ${max}` : `from ${min}`;
    throw new OtlpConfigError(variable, `must be a whole number of ${unit} ${range}, got ${JSON.stringify(given)}`);
  }
  return number;
}

function compressionOf(env: NodeJS.ProcessEnv, variable: string): 'gzip' | 'none' | undefined {
  const given = value(env, variable);
  // An enum value, read case-insensitively as the specification says.
  const name = given?.toLowerCase();
  if (name === undefined || name === 'gzip' || name === 'none') return name;
  throw new OtlpConfigError(variable, `must be "gzip" or "none", got ${JSON.stringify(given)}`);
}

/**
 * `key=value` entries separated by commas, keys and values percent-encoded where needed, as the
 * specification writes headers and resource attributes (the W3C baggage format); an entry the SDK would
 * drop is refused, and so is one `refusal` finds a reason to refuse.
 */
function pairList(
  env: NodeJS.ProcessEnv,
  variable: string,
  refusal: (key: string, value: string) => string | undefined,
): Record<string, string> {
  const pairs: Record<string, string> = {};
  const given = value(env, variable);
  if (given === undefined) return pairs;
  for (const entry of given.split(',')) {
    if (entry.trim() === '') continue;
    const separator = entry.indexOf('=');
    const key = separator > 0 ? decoded(entry.slice(0, separator).trim()) : undefined;
    const text = separator > 0 ? decoded(entry.slice(separator + 1).trim()) : undefined;
    if (!key || !text) {
      throw new OtlpConfigError(
        variable,
        `must be a list of key=value pairs separated by commas (a value percent-encoded where needed), got ${JSON.stringify(entry.trim())}`,
      );
    }
    const refused = refusal(key, text);
    if (refused !== undefined) {
      throw new OtlpConfigError(
        variable,
        `must be headers Node's HTTP client can send (${refused}), got ${JSON.stringify(entry.trim())}`,
      );
    }
    pairs[key] = text;
  }
  return pairs;
}

/**
 * Why Node's HTTP client would refuse this header, by its own checks (every export would fail, with no
 * word); `undefined` when it sends it.
 */
function headerRefusal(key: string, text: string): string | undefined {
  try {
    validateHeaderName(key);
  } catch {
    return `a header name is letters, digits and !#$%&'*+-.^_\`|~`;
  }
  try {
    validateHeaderValue(key, text);
  } catch {
    return 'a header value holds no control character and no character past U+00FF, once percent-decoded';
  }
  return undefined;
}

function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
