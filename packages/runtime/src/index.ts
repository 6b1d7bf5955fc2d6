// @threadline/runtime: components wired by depends(), in one process or over NATS. Its public API, and all of it.

export { RuntimeModule } from './runtime.module.js';
export type { ComponentClass, NatsOptions, RuntimeModuleOptions, TransportKind } from './runtime.options.js';
export { Component } from './component.decorator.js';
export type { ComponentOptions } from './component.decorator.js';
export { Endpoint } from './endpoint.decorator.js';
export type { CallOptions, EndpointContext } from './endpoint-context.js';
export { EndpointError } from './endpoint.error.js';
export { InvalidRuntimeOptionError } from './runtime-options.check.js';
export type { EndpointErrorData } from './endpoint.error.js';
export { depends, getComponentToken, InjectComponent } from './depends.js';
export type { InjectComponentOptions } from './depends.js';
export type { ComponentClient, StreamItem } from './component-client.js';
export type { ComponentInstanceInfo, OnComponentStart, OnComponentStop } from './local-instance.js';
export { unary } from './stream-conversion.js';
export { ComponentEvents } from './component-events.js';
export { ProcessQueries } from './process-queries.js';
export type { AskOptions } from './process-queries.js';
export { RuntimeReadiness } from './runtime-readiness.js';
export type { ReadinessReport } from './runtime-readiness.js';
export type { BusStatus } from './transport/component-transport.js';
export { RoundRobin } from './round-robin.js';
