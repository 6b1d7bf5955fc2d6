import { Inject, Injectable } from '@nestjs/common';
import type { LoggerService, LogLevel } from '@nestjs/common';
import type { Logger, Level } from 'pino';
import { TRACING_PINO } from './tracing.internal-constants.js';

const NEST_TO_PINO: Record<LogLevel, Level> = {
  verbose: 'trace',
  debug: 'debug',
  log: 'info',
  warn: 'warn',
  error: 'error',
  fatal: 'fatal',
};

/**
 * Nest's `LoggerService` over the tracing pino logger: `Logger` calls anywhere in the app become JSON
 * lines with `requestId` (inside a request) and `context` (the Nest logger's name). Install it with
 * `NestFactory.create(..., { bufferLogs: true })` and `app.useLogger(app.get(TracingLogger))`.
 * @publicApi
 */
@Injectable()
export class TracingLogger implements LoggerService {
  constructor(@Inject(TRACING_PINO) readonly pino: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('log', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('verbose', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  /** Whether a line at Nest level `level` would be written; lets callers skip building costly messages. */
  isEnabled(level: LogLevel): boolean {
    return this.pino.isLevelEnabled(NEST_TO_PINO[level]);
  }

  /**
   * Nest's convention: the last string parameter is the context (the logger's name); for `error`, a
   * string before it is the stack. Objects become fields of the line.
   */
  private write(level: LogLevel, message: unknown, params: unknown[]): void {
    const pinoLevel = NEST_TO_PINO[level];
    if (!this.pino.isLevelEnabled(pinoLevel)) return;
    const fields: Record<string, unknown> = {};
    const rest = [...params];
    if (rest.length > 0 && typeof rest[rest.length - 1] === 'string') fields.context = rest.pop();
    if (level === 'error' && typeof rest[0] === 'string') fields.stack = rest.shift();
    for (const extra of rest) if (extra !== null && typeof extra === 'object') Object.assign(fields, extra);
    if (message instanceof Error) {
      this.pino[pinoLevel]({ ...fields, err: message }, message.message);
    } else if (message !== null && typeof message === 'object') {
      this.pino[pinoLevel]({ ...fields, ...message });
    } else {
      this.pino[pinoLevel](fields, String(message));
    }
  }
}
