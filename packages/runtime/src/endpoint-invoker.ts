import { DeadlineExceededError, getCurrentRequestId, getRequestSignal } from '@threadline/tracing';
import {
  deadlineOf,
  deriveStore,
  isLogLevelEnabled,
  isRecordingSpans,
  runInStore,
  startSpan,
} from '@threadline/tracing/internal';
import type { RequestStore, Span } from '@threadline/tracing/internal';
import { Logger } from '@nestjs/common';
import type { EndpointContext } from './endpoint-context.js';
import { EndpointError } from './endpoint.error.js';
import type { LocalInstance } from './local-instance.js';
import { CalleeStream } from './callee-stream.js';
import { rpcSpanName } from './rpc-span-name.js';

const logger = new Logger('Runtime');

/**
 * Runs one endpoint call on a local instance, whichever transport brought it: in a context of the
 * request with the component's name (so its log lines say which component wrote them), with the
 * request's AbortSignal, logging the call at debug level. Errors come out as EndpointErrors. A call
 * whose deadline has passed is not started: its caller has stopped waiting (an expected 504).
 */
export function invokeEndpoint(
  local: LocalInstance,
  endpointName: string,
  request: unknown,
  requestStore: RequestStore,
  callId: string,
): AsyncIterable<unknown> {
  const component = local.identity.name;
  const span = startServerSpan(local, endpointName, requestStore);
  const store = deriveStore(requestStore, { component, span });
  return runInStore(store, () => {
    const requestId = getCurrentRequestId()!;
    const where = { requestId, component, endpoint: endpointName };
    const endpoint = local.endpoints.get(endpointName);
    if (endpoint === undefined) {
      const error = new EndpointError({
        ...where,
        message: `${component} has no endpoint "${endpointName}".`,
        status: 404,
        code: 'endpoint_not_found',
      });
      span?.recordFailure(error).end();
      throw error;
    }
    const deadline = deadlineOf(requestStore);
    if (deadline !== undefined && Date.now() >= deadline) {
      logger.debug({ msg: `${component}.${endpointName} not started: its deadline passed`, callId, deadline });
      const error = EndpointError.from(new DeadlineExceededError(), where);
      span?.end();
      throw error;
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
      span,
    );
  });
}

/** The callee's `server` span of a call, a child of the caller's span (or of its `traceparent`). */
function startServerSpan(local: LocalInstance, endpointName: string, requestStore: RequestStore): Span | undefined {
  if (!isRecordingSpans()) return undefined;
  const component = local.identity.name;
  return startSpan(
    rpcSpanName(component, endpointName),
    'server',
    {
      'rpc.system': 'threadline',
      'rpc.service': component,
      'rpc.method': endpointName,
      'threadline.instance_id': local.instanceId,
    },
    requestStore,
  );
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
