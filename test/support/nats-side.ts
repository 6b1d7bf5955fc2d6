import type { Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { TestingModule } from '@nestjs/testing';
import { RuntimeModule } from '@threadline/runtime';
import type { NatsOptions } from '@threadline/runtime';
import { createTracingLogger, RequestTracingModule, TracingLogger } from '@threadline/tracing';
import type { RequestTracingOptions } from '@threadline/tracing';

/**
 * One side of a test over NATS, started: a module of `components` (serving those in `serve`) on the
 * runtime's NATS transport, a process of its own as far as the transport goes (its own connections,
 * instance and caller id), its log lines written to `tracing.logDestination`.
 */
export async function startNatsSide(options: {
  components: Type[];
  serve: Type[];
  nats: NatsOptions;
  tracing: RequestTracingOptions;
}): Promise<TestingModule> {
  const { components, serve, nats, tracing } = options;
  const moduleRef = await Test.createTestingModule({
    imports: [
      RequestTracingModule.forRoot({ ...tracing, logger: createTracingLogger(tracing) }),
      RuntimeModule.forRoot({ components, serve, transport: 'nats', nats }),
    ],
  }).compile();
  moduleRef.useLogger(moduleRef.get(TracingLogger));
  await moduleRef.init();
  return moduleRef;
}
