/** DI token of the normalised tracing options. Internal: not exported from the public API. */
export const TRACING_OPTIONS = 'THREADLINE:TRACING_OPTIONS';

/** DI token of whether the module registered its RPC interceptor (`rpc`, read as the module is defined). */
export const RPC_INTERCEPTOR_REGISTERED = 'THREADLINE:RPC_INTERCEPTOR_REGISTERED';

/** DI token of the pino root logger the module writes to. */
export const TRACING_PINO = 'THREADLINE:TRACING_PINO';

/** Metadata key under which `@RequestId()` records the index of its parameter. */
export const REQUEST_ID_PARAM_METADATA = 'THREADLINE:REQUEST_ID_PARAM';

/** Marks a function that `@Traced()` produced, so that it is never wrapped twice. */
export const TRACED_WRAPPER = Symbol.for('threadline:traced-wrapper');

/** Marks a function that `@LogComponent()` produced, holding the method it wraps and the name it gives. */
export const LOG_COMPONENT_WRAPPER = Symbol.for('threadline:log-component-wrapper');
