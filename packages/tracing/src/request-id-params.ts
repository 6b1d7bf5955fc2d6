import { REQUEST_ID_PARAM_METADATA } from './tracing.internal-constants.js';
import { getCurrentRequestId } from './request-context.js';

/** The parameter indexes of `target[key]` marked with `@RequestId()`. */
export function getRequestIdParams(target: object, key: string | symbol): readonly number[] {
  return (Reflect.getMetadata(REQUEST_ID_PARAM_METADATA, target, key) as number[] | undefined) ?? [];
}

/** Records that parameter `index` of `target[key]` takes the request id. */
export function addRequestIdParam(target: object, key: string | symbol, index: number): void {
  Reflect.defineMetadata(REQUEST_ID_PARAM_METADATA, [...getRequestIdParams(target, key), index], target, key);
}

/** `args` with every `@RequestId()` parameter the caller left empty set to the current request's id. */
export function fillRequestIdParams(args: unknown[], indexes: readonly number[]): unknown[] {
  if (indexes.length === 0) return args;
  const current = getCurrentRequestId();
  if (current === undefined) return args;
  const filled = [...args];
  for (const index of indexes) {
    if (filled[index] === undefined || filled[index] === null || filled[index] === '') filled[index] = current;
  }
  return filled;
}
