import {
  isHeaderName,
  isLogFormat,
  isLogLevel,
  isReservedHeader,
  LOG_LEVELS,
  reservedHeaderReason,
} from './request-tracing.options.js';
import type { RequestTracingOptions } from './request-tracing.options.js';
import { InvalidTracingOptionError } from './tracing.errors.js';

/**
 * Reads the tracing options from environment variables: `REQUEST_ID_HEADER`,
 * `TRUST_INCOMING_REQUEST_ID`, `LOG_FORMAT`, `LOG_LEVEL`. Unset variables are left out,
 * so the module's defaults apply; values are checked by `resolveTracingOptions()`.
 * @publicApi
 */
export function tracingOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): RequestTracingOptions {
  const options: RequestTracingOptions = {};
  if (env.REQUEST_ID_HEADER !== undefined) {
    options.header = oneOf('REQUEST_ID_HEADER', env.REQUEST_ID_HEADER, isHeaderName, 'an HTTP header name');
    if (isReservedHeader(options.header)) {
      throw new InvalidTracingOptionError('REQUEST_ID_HEADER', reservedHeaderReason(options.header));
    }
  }
  if (env.TRUST_INCOMING_REQUEST_ID !== undefined) {
    options.trustIncoming = parseBoolean('TRUST_INCOMING_REQUEST_ID', env.TRUST_INCOMING_REQUEST_ID);
  }
  if (env.LOG_FORMAT !== undefined) {
    options.logFormat = oneOf('LOG_FORMAT', env.LOG_FORMAT, isLogFormat, '"json" or "pretty"');
  }
  if (env.LOG_LEVEL !== undefined) {
    options.logLevel = oneOf('LOG_LEVEL', env.LOG_LEVEL, isLogLevel, `one of ${LOG_LEVELS.join(', ')}`);
  }
  return options;
}

function oneOf<T extends string>(name: string, value: string, test: (v: string) => v is T, what: string): T {
  if (!test(value)) throw new InvalidTracingOptionError(name, `must be ${what}, got ${JSON.stringify(value)}`);
  return value;
}

/**
 * A yes/no variable's value: `true`/`1`/`yes` or `false`/`0`/`no`, in any case, as written (` true ` is
 * refused, as ` 4 ` is for a number); `undefined` for anything else.
 */
export function parseBooleanText(value: string): boolean | undefined {
  const normalised = value.toLowerCase();
  if (['true', '1', 'yes'].includes(normalised)) return true;
  if (['false', '0', 'no'].includes(normalised)) return false;
  return undefined;
}

function parseBoolean(name: string, value: string): boolean {
  const parsed = parseBooleanText(value);
  if (parsed === undefined)
    throw new InvalidTracingOptionError(name, `must be true or false, got ${JSON.stringify(value)}`);
  return parsed;
}
