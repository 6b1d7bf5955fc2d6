import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import type { Level, Logger, LoggerOptions } from 'pino';
import pretty from 'pino-pretty';
import { storeKeptOnRequest } from './http-request-context.js';
import { componentOf, getCurrentStore, spanOf } from './request-context.js';
import type { RequestStore } from './request-context.js';
import { resolveTracingOptions } from './request-tracing.options.js';
import type { RequestTracingOptions } from './request-tracing.options.js';
import { CLS_ID } from 'nestjs-cls';

/** Marks a child logger that already carries `requestId` in its bindings (Fastify's per-request logger). */
const BOUND_TO_REQUEST = Symbol('threadline:bound-to-request');

/**
 * The context of the request a bound logger's lines belong to, for its lines written outside any context
 * (Fastify's "incoming request" on Node without context frames, written before the first hook opens it).
 */
const OWN_REQUEST_STORE = Symbol('threadline:request-store');

type MarkedLogger = Logger & { [BOUND_TO_REQUEST]?: boolean; [OWN_REQUEST_STORE]?: RequestStore };

/** How many span exports are on; while one is, lines written in a span carry its `trace_id` and `span_id`. */
let spanFieldUsers = 0;

/**
 * Adds `trace_id` and `span_id` to the lines written in a span, until the returned function is called.
 * Span exports turn this on, so that a line leads to its span in the tracing backend.
 */
export function addSpanLogFields(): () => void {
  spanFieldUsers++;
  let removed = false;
  return () => {
    if (!removed) spanFieldUsers--;
    removed = true;
  };
}

/** The log fields the current context contributes to every line written in it. */
function contextFields(_merge: object, _level: number, logger: Logger): object {
  if ((logger as MarkedLogger)[BOUND_TO_REQUEST])
    return spanFieldUsers === 0 ? {} : spanFields(getCurrentStore() ?? (logger as MarkedLogger)[OWN_REQUEST_STORE], {});
  const store = getCurrentStore();
  if (store === undefined) return {};
  const component = componentOf(store);
  const fields = component === undefined ? { requestId: store[CLS_ID] } : { requestId: store[CLS_ID], component };
  return spanFieldUsers === 0 ? fields : spanFields(store, fields);
}

/** `fields`, with the ids of the span current in `store` when there is one. */
function spanFields(store: RequestStore | undefined, fields: object): object {
  const span = store === undefined ? undefined : spanOf(store);
  return span === undefined ? fields : { ...fields, trace_id: span.traceId, span_id: span.spanId };
}

/**
 * Serialisers for the objects the access lines log: Fastify's request (`ip`) and pino-http's
 * (`remoteAddress`). Headers are left out on purpose: a raw header value (the rejected request id
 * among them) never reaches a log line.
 */
export const serializers: LoggerOptions['serializers'] = {
  req: (request: { method?: string; url?: string; ip?: string; remoteAddress?: string }) => ({
    method: request.method,
    url: request.url,
    remoteAddress: request.ip ?? request.remoteAddress,
  }),
  res: (reply: { statusCode?: number }) => ({ statusCode: reply.statusCode }),
  err: serializeError,
};

/**
 * Pino's error serialiser copies every enumerable field; Node's HTTP parser errors carry `rawPacket`,
 * the request's raw bytes, headers and all. Those must not reach a log line, so the field is dropped.
 */
function serializeError(error: Error): Record<string, unknown> {
  const { rawPacket: _rawPacket, ...serialized } = pino.stdSerializers.err(error) as Record<string, unknown>;
  return serialized;
}

/**
 * Creates the root pino logger: JSON lines (or pretty ones) with `requestId` added to every line written
 * inside a request context, and to none outside one. Pass it to Fastify as `loggerInstance` so that
 * Fastify's own request lines land in the same stream.
 * @publicApi
 */
export function createTracingLogger(
  options: Pick<RequestTracingOptions, 'logFormat' | 'logLevel' | 'logDestination'> = {},
): Logger {
  const { logFormat, logLevel, logDestination } = resolveTracingOptions(options);
  const target = logDestination ?? pino.destination({ sync: true });
  const destination =
    logFormat === 'pretty'
      ? pretty({
          sync: true,
          destination: target,
          colorize: logDestination === undefined && process.stdout.isTTY,
          // The id and component lead the message, where a reader scanning a terminal looks.
          messageFormat: '{if requestId}[{requestId}] {end}{if component}{component}: {end}{msg}',
          ignore: 'pid,hostname,requestId,component',
        })
      : target;
  return pino({ level: logLevel, mixin: contextFields, serializers, base: { pid: process.pid } }, destination);
}

/** A child of `logger` whose lines carry `requestId: id` whether or not a context is active. */
export function requestBoundLogger(logger: Logger, id: string, options: object = {}): Logger {
  return markBoundToRequest(logger.child({ requestId: id }, options));
}

/**
 * Marks a logger whose lines carry the request id in their bindings, so that the context mixin adds
 * none; pino's children inherit the mark (a child is made with `Object.create(parent)`).
 */
export function markBoundToRequest(logger: Logger): Logger {
  (logger as MarkedLogger)[BOUND_TO_REQUEST] = true;
  return logger;
}

type LogMethod = (...args: unknown[]) => void;

/**
 * Fastify's per-request logger (`request.log`), made only when the request first logs: most requests
 * of a service with request logging off never do, and a pino child costs microseconds to build.
 */
export class LazyRequestLogger {
  private bound: Logger | undefined;

  constructor(
    private readonly root: Logger,
    /** Fastify's bindings: its one entry is the request id, under Fastify's label for it. */
    private readonly bindings: Record<string, unknown>,
    private readonly options: object,
    /** The request, whose context may have been made before any is entered (`keepStoreOnRequest`). */
    private readonly request?: IncomingMessage,
  ) {}

  get level(): string {
    return (this.bound ?? this.root).level;
  }

  set level(level: string) {
    this.logger().level = level;
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }

  error(...args: unknown[]): void {
    this.write('error', args);
  }

  warn(...args: unknown[]): void {
    this.write('warn', args);
  }

  info(...args: unknown[]): void {
    this.write('info', args);
  }

  debug(...args: unknown[]): void {
    this.write('debug', args);
  }

  trace(...args: unknown[]): void {
    this.write('trace', args);
  }

  silent(): void {}

  isLevelEnabled(level: string): boolean {
    return (this.bound ?? this.root).isLevelEnabled(level);
  }

  child(bindings: Record<string, unknown>, options?: object): Logger {
    return this.logger().child(bindings, options);
  }

  private logger(): Logger {
    return (this.bound ??= this.makeBound());
  }

  private makeBound(): Logger {
    const bound = requestBoundLogger(this.root, String(Object.values(this.bindings)[0]), this.options);
    const store = this.request === undefined ? undefined : storeKeptOnRequest(this.request);
    if (store !== undefined) (bound as MarkedLogger)[OWN_REQUEST_STORE] = store;
    return bound;
  }

  /** Passes Fastify's arguments on as they came: pino's overloads cannot take a spread of unknowns. */
  private write(level: Level, args: unknown[]): void {
    const logger = this.logger();
    const method: LogMethod = logger[level];
    method.apply(logger, args);
  }
}
