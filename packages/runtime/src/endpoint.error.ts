import { isExpectedError } from '@threadline/tracing';

/** The fields of an `EndpointError`: plain data, so that it crosses a process boundary unchanged. @publicApi */
export interface EndpointErrorData {
  message: string;
  /** An HTTP status that describes the failure: 400 for a bad request, 503 when nothing can serve it. */
  status: number;
  /** A machine-readable code, e.g. `invalid_request_error`, `model_not_found`, `internal_error`. */
  code: string;
  /** The request field at fault, when there is one. */
  param?: string;
  /**
   * An expected refusal (bad input, a full queue, nothing to serve it), not a fault: the runtime logs no
   * error for it, and the caller that answers the client logs it once. Set from `expected: true` on the
   * error an endpoint throws.
   */
  expected?: boolean;
  /** For a 429 or 503: the seconds after which the client may retry, when the refusal knows them. */
  retryAfterSeconds?: number;
  requestId: string;
  component: string;
  endpoint: string;
}

/**
 * An endpoint call that failed: what a client sees whether the endpoint ran in this process or another.
 * It always names the request id, the component and the endpoint.
 * @publicApi
 */
export class EndpointError extends Error implements EndpointErrorData {
  readonly status: number;
  readonly code: string;
  readonly param?: string;
  readonly expected?: boolean;
  readonly retryAfterSeconds?: number;
  readonly requestId: string;
  readonly component: string;
  readonly endpoint: string;

  constructor(data: EndpointErrorData) {
    super(data.message);
    this.name = 'EndpointError';
    this.status = data.status;
    this.code = data.code;
    this.param = data.param;
    if (data.expected === true) this.expected = true;
    if (isRetryAfter(data.retryAfterSeconds)) this.retryAfterSeconds = data.retryAfterSeconds;
    this.requestId = data.requestId;
    this.component = data.component;
    this.endpoint = data.endpoint;
  }

  /** `error` as an EndpointError of a call to `component.endpoint` for request `requestId`. */
  static from(error: unknown, where: Pick<EndpointErrorData, 'requestId' | 'component' | 'endpoint'>): EndpointError {
    if (error instanceof EndpointError) return error;
    const status = statusOf(error);
    const described = error as { message?: unknown; code?: unknown; param?: unknown; retryAfterSeconds?: unknown };
    return new EndpointError({
      ...where,
      message: typeof described?.message === 'string' ? described.message : String(error),
      status,
      code:
        typeof described?.code === 'string'
          ? described.code
          : status < 500
            ? 'invalid_request_error'
            : 'internal_error',
      param: typeof described?.param === 'string' ? described.param : undefined,
      expected: isExpectedError(error) || undefined,
      retryAfterSeconds: isRetryAfter(described?.retryAfterSeconds) ? described.retryAfterSeconds : undefined,
    });
  }

  toJSON(): EndpointErrorData {
    const { message, status, code, param, expected, retryAfterSeconds, requestId, component, endpoint } = this;
    return { message, status, code, param, expected, retryAfterSeconds, requestId, component, endpoint };
  }
}

/** The status an error declares (`getStatus()` of Nest's HttpException, or `status`), else 500. */
function statusOf(error: unknown): number {
  const candidate = error as { getStatus?: () => unknown; status?: unknown };
  const status = typeof candidate?.getStatus === 'function' ? candidate.getStatus() : candidate?.status;
  return typeof status === 'number' && status >= 400 && status <= 599 ? status : 500;
}

function isRetryAfter(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}
