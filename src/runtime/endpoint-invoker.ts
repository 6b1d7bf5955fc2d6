import { Logger } from '@nestjs/common';
import {
  bindAsyncIterable,
  deriveStore,
  getCurrentRequestId,
  getCurrentTraceparent,
  getRequestSignal,
  isLogLevelEnabled,
  isRequestCancelled,
  runInStore,
} from '../tracing/index.js';
import type { RequestStore } from '../tracing/index.js';
import type { EndpointContext } from './endpoint-context.js';
import { EndpointError } from './endpoint.error.js';
import type { LocalInstance } from './local-instance.js';
import { toAsyncIterable } from './stream-conversion.js';

const logger = new Logger('Runtime');

/**
 * Runs one endpoint call on a local instance, whichever transport brought it: in a context of the
 * request with the component's name (so its log lines say which component wrote them), with the
 * request's AbortSignal, logging the call at debug level. Errors come out as EndpointErrors.
 */
export function invokeEndpoint(
  local: LocalInstance,
  endpointName: string,
  request: unknown,
  requestStore: RequestStore,
  callId: string,
): AsyncIterable<unknown> {
  const component = local.identity.name;
  const store = deriveStore(requestStore, { component });
  return runInStore(store, () => {
    const requestId = getCurrentRequestId()!;
    const where = { requestId, component, endpoint: endpointName };
    const endpoint = local.endpoints.get(endpointName);
    if (endpoint === undefined) {
      throw new EndpointError({ ...where, message: `${component} has no endpoint "${endpointName}".`, status: 404, code: 'endpoint_not_found' });
    }
    const context = new CallContext(requestId, callId, local.instanceId, store);
    const method = (local.instance as Record<string, (request: unknown, context: EndpointContext) => unknown>)[endpoint.method]!;
    const stream = observe(() => method.call(local.instance, request, context), where, local.instanceId, callId, store);
    return bindAsyncIterable(stream, store);
  });
}

/** An endpoint's view of its call; the AbortSignal is made only if the endpoint asks for it. */
class CallContext implements EndpointContext {
  constructor(
    readonly requestId: string,
    readonly callId: string,
    readonly instanceId: string,
    private readonly store: RequestStore,
  ) {}

  get signal(): AbortSignal {
    return runInStore(this.store, () => getRequestSignal()!);
  }
}

async function* observe(
  start: () => unknown,
  where: { requestId: string; component: string; endpoint: string },
  instanceId: string,
  callId: string,
  store: RequestStore,
): AsyncGenerator<unknown> {
  // Logged only at debug: on the hot path, not even the line's fields are built otherwise.
  const debug = isLogLevelEnabled('debug');
  const started = debug ? performance.now() : 0;
  let items = 0;
  let outcome = 'cancelled';
  if (debug) {
    const traceparent = getCurrentTraceparent();
    logger.debug({ msg: `handling ${where.component}.${where.endpoint}`, endpoint: where.endpoint, instanceId, callId, ...(traceparent && { traceparent }) });
  }
  try {
    const result = start();
    if (isThenable(result)) {
      // A unary endpoint: one item, without a generator around it.
      yield await result;
      items = 1;
    } else {
      for await (const item of toAsyncIterable(result)) {
        items++;
        yield item;
      }
    }
    outcome = 'ended';
  } catch (error) {
    const failure = EndpointError.from(error, where);
    // Once the request is cancelled, failures are its echo (aborted waits), not faults to report.
    outcome = runInStore(store, () => isRequestCancelled()) ? 'cancelled' : 'failed';
    if (outcome === 'failed' && failure.status >= 500) {
      logger.error({ msg: `${where.component}.${where.endpoint} failed: ${failure.message}`, err: error, callId });
    }
    throw failure;
  } finally {
    if (debug) {
      const durationMs = Math.round(performance.now() - started);
      logger.debug({ msg: `${where.component}.${where.endpoint} ${outcome}`, endpoint: where.endpoint, callId, items, durationMs });
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
}
