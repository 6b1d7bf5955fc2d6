import { createParamDecorator } from '@nestjs/common';
import { getCurrentRequestId } from './request-context.js';
import { addRequestIdParam } from './request-id-params.js';

const NestRequestIdParam = createParamDecorator(() => getCurrentRequestId());

/**
 * Marks a parameter that takes the request id. In a controller or message handler Nest fills it; in a
 * provider method the caller may pass an id, and when it passes nothing (`undefined`, `null`, `''`) the
 * current request's id is filled in — on a method (or class) that has `@Traced()`, or on any provider
 * method once `RequestTracingModule` has started.
 * @publicApi
 */
export function RequestId(): ParameterDecorator {
  return (target, key, index) => {
    if (key === undefined) {
      throw new TypeError('@RequestId() goes on a method parameter, not on a constructor parameter.');
    }
    NestRequestIdParam()(target, key, index);
    addRequestIdParam(target, key, index);
  };
}
