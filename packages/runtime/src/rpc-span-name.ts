import { SpanNames } from '@threadline/tracing/internal';

const names = new SpanNames('.');

/** The name of a call's spans, the caller's and the callee's: `{component}.{endpoint}`, one string for each pair. */
export function rpcSpanName(component: string, endpoint: string): string {
  return names.of(component, endpoint);
}
