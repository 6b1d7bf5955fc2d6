import type { DestinationStream, Level } from 'pino';
import { defaultClientErrorBody } from './client-error.js';
import type { ClientErrorBody } from './client-error.js';
import { randomUuid } from './random-uuid.js';
import { DEFAULT_MAX_REQUEST_ID_LENGTH, DEFAULT_REQUEST_ID_HEADER } from './request-tracing.constants.js';
import { InvalidTracingOptionError } from './tracing.errors.js';

/** How log lines are written. @publicApi */
export type LogFormat = 'json' | 'pretty';

/** The levels a log line can have, lowest to highest. @publicApi */
export const LOG_LEVELS: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** Options of `RequestTracingModule.forRoot()`. Every one has a default. @publicApi */
export interface RequestTracingOptions {
  /**
   * The header the id is read from and written to, matched case-insensitively.
   * @default 'x-request-id'
   */
  header?: string;
  /**
   * Keep a valid incoming id. Set to `false` on a public edge: an id is then always generated.
   * @default true
   */
  trustIncoming?: boolean;
  /**
   * The longest incoming id accepted, from 1 to 1024.
   * @default 128
   */
  maxLength?: number;
  /**
   * Makes a new id. What it returns must pass the same policy as an incoming id.
   * @default a UUIDv4
   */
  generateId?: () => string;
  /**
   * Also open a context for each @nestjs/microservices message handler, from the message's headers.
   * This adds a global interceptor, which every HTTP route then pays for too; HTTP alone needs none.
   * @default false
   */
  rpc?: boolean;
  /**
   * On Express, write an "incoming request" and a "request completed" line for every request, with
   * its id (pino-http). On Fastify, give the FastifyAdapter the module's logger (`loggerInstance`)
   * instead: Fastify writes those lines itself.
   * @default false
   */
  accessLog?: boolean;
  /**
   * `json`: one JSON object a line (for machines). `pretty`: coloured lines for a terminal.
   * @default 'json'
   */
  logFormat?: LogFormat;
  /**
   * The lowest level written.
   * @default 'info'
   */
  logLevel?: Level;
  /**
   * Where log lines go.
   * @default standard output
   */
  logDestination?: DestinationStream;
  /**
   * The JSON body of the answer to a request Node's HTTP server refuses before the app sees it (a
   * malformed or oversized head, a request too slow, an `Expect` it cannot meet: docs/tracing.md, "What
   * Node answers on its own"). Every such answer carries the id header; an app that listens for the
   * server's `clientError` itself keeps its own answer.
   * @default `{ statusCode, error, message }`, as Nest's HttpException answers
   */
  clientErrorBody?: ClientErrorBody;
}

/** The options with every default applied and every value checked. */
export interface ResolvedTracingOptions extends Required<Omit<RequestTracingOptions, 'logDestination'>> {
  /** The header name in lower case, as Node keys `request.headers`. */
  header: string;
  logDestination?: DestinationStream;
}

const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Whether `value` is a valid HTTP header name (an RFC 9110 token). */
export function isHeaderName(value: unknown): value is string {
  return typeof value === 'string' && HEADER_TOKEN.test(value);
}

/**
 * Headers that HTTP framing, credentials or trace context own: an id read from or written to one of them
 * would be another thing's value (`content-length` makes the body's length the id), or would break it.
 */
export const RESERVED_HEADERS: readonly string[] = [
  'content-length',
  'content-type',
  'content-encoding',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'host',
  'expect',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'traceparent',
  'tracestate',
  'baggage',
];

/** Whether `name` (any case) is one of the `RESERVED_HEADERS`. */
export function isReservedHeader(name: string): boolean {
  return RESERVED_HEADERS.includes(name.toLowerCase());
}

export function isLogFormat(value: string): value is LogFormat {
  return value === 'json' || value === 'pretty';
}

export function isLogLevel(value: string): value is Level {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/** Applies the defaults and checks every value; throws `InvalidTracingOptionError` for a bad one. */
export function resolveTracingOptions(options: RequestTracingOptions = {}): ResolvedTracingOptions {
  const resolved: ResolvedTracingOptions = {
    header: options.header ?? DEFAULT_REQUEST_ID_HEADER,
    trustIncoming: options.trustIncoming ?? true,
    maxLength: options.maxLength ?? DEFAULT_MAX_REQUEST_ID_LENGTH,
    generateId: options.generateId ?? randomUuid,
    rpc: options.rpc ?? false,
    accessLog: options.accessLog ?? false,
    logFormat: options.logFormat ?? 'json',
    logLevel: options.logLevel ?? 'info',
    logDestination: options.logDestination,
    clientErrorBody: options.clientErrorBody ?? defaultClientErrorBody,
  };
  check('header', isHeaderName(resolved.header), 'must be an HTTP header name (letters, digits, "-")');
  check('header', !isReservedHeader(resolved.header), reservedHeaderReason(resolved.header));
  resolved.header = resolved.header.toLowerCase();
  check('trustIncoming', typeof resolved.trustIncoming === 'boolean', 'must be true or false');
  check(
    'maxLength',
    Number.isInteger(resolved.maxLength) && resolved.maxLength >= 1 && resolved.maxLength <= 1024,
    'must be a whole number from 1 to 1024',
  );
  check('rpc', typeof resolved.rpc === 'boolean', 'must be true or false');
  check('accessLog', typeof resolved.accessLog === 'boolean', 'must be true or false');
  check('generateId', typeof resolved.generateId === 'function', 'must be a function that returns a string');
  check('logFormat', isLogFormat(resolved.logFormat), 'must be "json" or "pretty"');
  check('logLevel', isLogLevel(resolved.logLevel), `must be one of ${LOG_LEVELS.join(', ')}`);
  check(
    'clientErrorBody',
    typeof resolved.clientErrorBody === 'function',
    'must be a function that returns a JSON value',
  );
  return resolved;
}

/** Why `name` cannot carry the id. */
export function reservedHeaderReason(name: string): string {
  return `must not be a header HTTP or another protocol owns (${RESERVED_HEADERS.join(', ')}), got ${JSON.stringify(name)}`;
}

function check(option: string, ok: boolean, reason: string): void {
  if (!ok) throw new InvalidTracingOptionError(option, reason);
}
