import { Logger } from '@nestjs/common';
import { bindAsyncIterable, deriveStore, getCurrentRequestId, getCurrentTraceparent, getRequestSignal, runInStore } from '../tracing/index.js';
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
    const context: EndpointContext = { requestId, callId, instanceId: local.instanceId, signal: getRequestSignal()! };
    const method = (local.instance as Record<string, (request: unknown, context: EndpointContext) => unknown>)[endpoint.method]!;
    const stream = observe(() => method.call(local.instance, request, context), where, local.instanceId, callId, context.signal);
    return bindAsyncIterable(stream, store);
  });
}

async function* observe(
  start: () => unknown,
  where: { requestId: string; component: string; endpoint: string },
  instanceId: string,
  callId: string,
  signal: AbortSignal,
): AsyncGenerator<unknown> {
  const started = performance.now();
  let items = 0;
  let outcome = 'cancelled';
  const traceparent = getCurrentTraceparent();
  logger.debug({ msg: `handling ${where.component}.${where.endpoint}`, endpoint: where.endpoint, instanceId, callId, ...(traceparent && { traceparent }) });
  try {
    for await (const item of toAsyncIterable(start())) {
      items++;
      yield item;
    }
    outcome = 'ended';
  } catch (error) {
    const failure = EndpointError.from(error, where);
    // Once the request is cancelled, failures are its echo (aborted waits), not faults to report.
    outcome = signal.aborted ? 'cancelled' : 'failed';
    if (outcome === 'failed' && failure.status >= 500) {
      logger.error({ msg: `${where.component}.${where.endpoint} failed: ${failure.message}`, err: error, callId });
    }
    throw failure;
  } finally {
    const durationMs = Math.round(performance.now() - started);
    logger.debug({ msg: `${where.component}.${where.endpoint} ${outcome}`, endpoint: where.endpoint, callId, items, durationMs });
  }
}
