import { getCurrentRequestId, getRequestSignal } from '@threadline/tracing';
import { deriveStore, isLogLevelEnabled, runInStore } from '@threadline/tracing/internal';
import type { RequestStore } from '@threadline/tracing/internal';
import type { EndpointContext } from './endpoint-context.js';
import { EndpointError } from './endpoint.error.js';
import type { LocalInstance } from './local-instance.js';
import { CalleeStream } from './callee-stream.js';

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
      throw new EndpointError({
        ...where,
        message: `${component} has no endpoint "${endpointName}".`,
        status: 404,
        code: 'endpoint_not_found',
      });
    }
    const context = new CallContext(requestId, callId, local.instanceId, store);
    const method = (local.instance as Record<string, (request: unknown, context: EndpointContext) => unknown>)[
      endpoint.method
    ]!;
    return new CalleeStream(
      () => method.call(local.instance, request, context),
      where,
      local.instanceId,
      callId,
      store,
      isLogLevelEnabled('debug'),
    );
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
