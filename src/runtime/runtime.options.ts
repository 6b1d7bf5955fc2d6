import type { ModuleMetadata } from '@nestjs/common';

/** A component class: decorated with `@Component()`. */
export type ComponentClass = abstract new (...args: never[]) => unknown;

/** Which transport carries `depends()` calls. @publicApi */
export type TransportKind = 'inprocess';

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
  /** Modules whose exported providers the components inject (configuration, engines). */
  imports?: ModuleMetadata['imports'];
}
