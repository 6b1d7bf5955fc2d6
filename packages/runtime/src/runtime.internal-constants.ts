/** Metadata key of `@Component()` options on a class. */
export const COMPONENT_METADATA = 'THREADLINE:COMPONENT';

/** Metadata key of the `@Endpoint()` list on a class. */
export const ENDPOINTS_METADATA = 'THREADLINE:ENDPOINTS';

/** DI token of the transport all clients of this process call through. */
export const COMPONENT_TRANSPORT = 'THREADLINE:COMPONENT_TRANSPORT';

/** DI token of the normalised runtime options. */
export const RUNTIME_OPTIONS = 'THREADLINE:RUNTIME_OPTIONS';

/** Metadata key of the components a class injects with `@InjectComponent()`. */
export const DEPENDENCIES_METADATA = 'THREADLINE:DEPENDENCIES';
