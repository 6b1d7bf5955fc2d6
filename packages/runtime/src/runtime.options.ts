import type { ModuleMetadata } from '@nestjs/common';

/** A component class: decorated with `@Component()`. @publicApi */
export type ComponentClass<T = unknown> = abstract new (...args: never[]) => T;

/** Which transport carries `depends()` calls. @publicApi */
export type TransportKind = 'inprocess' | 'nats';

/** Settings of the NATS transport. @publicApi */
export interface NatsOptions {
  /** The NATS server, e.g. `nats://127.0.0.1:4222`. */
  url: string;
  /**
   * How long a stopping process lets its calls in flight finish before it stops them.
   * @default 10000
   */
  shutdownGraceMs?: number;
  /**
   * The largest request or stream item one call may carry, serialised, in bytes. A message larger than
   * the NATS server's `max_payload` travels in parts; one larger than this fails the call.
   * @default 67108864 (64 MiB)
   */
  maxMessageBytes?: number;
  /**
   * Streamed calls paced by acknowledgements. As a caller: a callee stops sending once `frames` messages
   * or `bytes` bytes of large items are out that this process has not read. As a callee: a call waiting for
   * credit that hears nothing for `stallMs` stops (its caller stopped reading). `false`: this process
   * offers no acknowledgements as a caller; the callers that offer them are still paced.
   * @default { frames: 256, bytes: 4194304, stallMs: 5000 }
   */
  pacing?: false | { frames?: number; bytes?: number; stallMs?: number };
}

/** Options of `RuntimeModule.forRoot()`. @publicApi */
export interface RuntimeModuleOptions {
  /** Every component of the service: each gets a client provider, wherever it runs. */
  components: ComponentClass[];
  /**
   * The components this process serves.
   * @default all of `components`
   */
  serve?: ComponentClass[];
  /**
   * Instances per served component, by component name, e.g. `{ worker: 2 }`.
   * @default 1 for each
   */
  replicas?: Record<string, number>;
  /**
   * How calls travel.
   * @default 'inprocess'
   */
  transport?: TransportKind;
  /** Required with `transport: 'nats'`. */
  nats?: NatsOptions;
  /** Modules whose exported providers the components inject (configuration, engines). */
  imports?: ModuleMetadata['imports'];
}
