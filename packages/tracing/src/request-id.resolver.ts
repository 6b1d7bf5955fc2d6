import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { randomUuid } from './random-uuid.js';
import { getCurrentRequestId } from './request-context.js';
import { checkIncomingRequestId, isValidRequestId } from './request-id.policy.js';
import { requestBoundLogger } from './tracing-logger.factory.js';
import type { ResolvedTracingOptions } from './request-tracing.options.js';
import { InvalidTracingOptionError } from './tracing.errors.js';
import { TRACING_OPTIONS, TRACING_PINO } from './tracing.internal-constants.js';

/** The length of the built-in generator's ids (UUIDs, with their dashes). */
const UUID_LENGTH = 36;

/**
 * Turns an incoming header value (HTTP or message) into the request's id: kept when the policy accepts
 * it and the options trust incoming ids, generated otherwise. A rejection writes one log line with the
 * reason and the length, never the value itself. The one place where an id is chosen.
 */
@Injectable()
export class RequestIdResolver {
  /** The built-in generator's UUIDs always pass the policy (the sample below proves the length fits). */
  private readonly generatorIsTrusted: boolean;

  constructor(
    @Inject(TRACING_OPTIONS) private readonly options: ResolvedTracingOptions,
    @Inject(TRACING_PINO) private readonly logger: Logger,
  ) {
    // A generated id travels like an incoming one, and each process it reaches holds it to the policy.
    if (options.generateId === randomUuid && options.maxLength < UUID_LENGTH) {
      throw new InvalidTracingOptionError(
        'maxLength',
        `it is ${options.maxLength}, shorter than the ${UUID_LENGTH} characters of the UUIDs generated for requests without an id, which every process they reach must keep: set it to ${UUID_LENGTH} or more, or give a generateId whose ids fit`,
      );
    }
    const sample = options.generateId();
    if (!isValidRequestId(sample, options.maxLength)) {
      throw new InvalidTracingOptionError(
        'generateId',
        `it returned a value that is not a valid request id (1-${options.maxLength} characters of A-Z a-z 0-9 . _ : / + = @ -)`,
      );
    }
    this.generatorIsTrusted = options.generateId === randomUuid;
  }

  /** The header the id travels in, in lower case. */
  get header(): string {
    return this.options.header;
  }

  /** The id for a request whose id header had `value` (`undefined` when absent). */
  resolve(value: unknown): string {
    return this.options.trustIncoming ? this.accept(value) : this.generate();
  }

  /** Like `resolve()`, for an id the application itself supplies: `trustIncoming` does not apply. */
  accept(value: unknown): string {
    // The two cases of nearly every request first, without building a verdict.
    if (value === undefined) return this.generate();
    if (isValidRequestId(value, this.options.maxLength)) return value;
    const verdict = checkIncomingRequestId(value, this.options.maxLength);
    const id = this.generate();
    if (!verdict.accepted && verdict.reason !== 'absent') {
      requestBoundLogger(this.logger, id).info(
        { reason: verdict.reason, length: verdict.length },
        'incoming request id replaced by a generated one',
      );
    }
    return id;
  }

  /**
   * An id to use now: `id` when given (kept when valid, replaced and logged as `accept()` does), else the
   * current request's, else a new one. `RequestIdService.ensure()`, the mixin and `@Traced()` all use it.
   */
  ensure(id?: unknown): string {
    if (id !== undefined) return this.accept(id);
    return getCurrentRequestId() ?? this.generate();
  }

  /** A new id from the configured generator; a UUIDv4 should a custom generator ever return a bad one. */
  generate(): string {
    const id = this.options.generateId();
    return this.generatorIsTrusted || isValidRequestId(id, this.options.maxLength) ? id : randomUuid();
  }
}
