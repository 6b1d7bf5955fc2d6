import type { DynamicModule } from '@nestjs/common';
import { Writable } from 'node:stream';
import { createTracingLogger, RequestTracingModule } from '@threadline/tracing';
import type { RequestTracingOptions } from '@threadline/tracing';

/** Request tracing for a benchmark's in-process module: errors only, and those thrown away. */
export function quietTracingModule(): DynamicModule {
  const tracing: RequestTracingOptions = {
    logLevel: 'error',
    logDestination: new Writable({ write: (_c, _e, done) => done() }),
  };
  return RequestTracingModule.forRoot({ ...tracing, logger: createTracingLogger(tracing) });
}
