import { createParamDecorator } from '@nestjs/common';
import { getCurrentRequestId } from './request-context.js';
import { addRequestIdParam } from './request-id-params.js';

const NestRequestIdParam = createParamDecorator(() => getCurrentRequestId());

/**
 * Marks a parameter that takes the request id. In a controller or message handler Nest fills it; on a
 * provider method that has `@Traced()` (on the method or its class) the caller may pass an id, and when
 * it passes nothing (`undefined`, `null`, `''`) the current request's id is filled in. A provider
 * method without `@Traced()` gets what its caller passes.
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
