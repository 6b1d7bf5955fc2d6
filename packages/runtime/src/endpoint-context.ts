/** What an endpoint method receives besides its request. @publicApi */
export interface EndpointContext {
  /** The request this call is part of (also on every log line the endpoint writes). */
  readonly requestId: string;
  /** This call's own id, distinct from the request id, which clients may reuse. */
  readonly callId: string;
  /** The instance serving the call, e.g. `worker-1`. */
  readonly instanceId: string;
  /** Aborts when the caller goes away: stop the work and return. */
  readonly signal: AbortSignal;
}

/** Options of one call through a component client. @publicApi */
export interface CallOptions {
  /** Send the call to this instance of the component (as a router does); any instance when absent. */
  instance?: string;
}
