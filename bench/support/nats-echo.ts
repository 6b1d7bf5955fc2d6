import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import type { TestingModule } from '@nestjs/testing';
import { Component, Endpoint, RuntimeModule } from '@threadline/runtime';
import type { NatsOptions } from '@threadline/runtime';
import { quietTracingModule } from './quiet-tracing.js';

/** The component both sides of bench:nats know: the callee serves it, the caller calls it. */
@Component({ name: 'bench-echo' })
export class EchoComponent {
  @Endpoint()
  async echo(request: { text: string }): Promise<{ text: string }> {
    return request;
  }

  @Endpoint()
  async *items(request: { count: number }): AsyncGenerator<{ n: number }> {
    for (let n = 0; n < request.count; n++) yield { n };
  }
}

/** A Threadline module on NATS, serving the echo component or only calling it; logs thrown away. */
export async function startEchoModule(
  url: string,
  serve: boolean,
  pacing?: NatsOptions['pacing'],
): Promise<TestingModule> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      quietTracingModule(),
      RuntimeModule.forRoot({
        components: [EchoComponent],
        serve: serve ? [EchoComponent] : [],
        transport: 'nats',
        nats: { url, shutdownGraceMs: 1000, ...(pacing !== undefined && { pacing }) },
      }),
    ],
  }).compile();
  await moduleRef.init();
  return moduleRef;
}

/** The Moleculer service of the comparison: the same echo, and what request id arrived. */
export const MOLECULER_ECHO = {
  name: 'echo',
  actions: {
    echo: (ctx: { params: unknown }) => ctx.params,
    requestId: (ctx: { requestID: string | null }) => ctx.requestID,
  },
};

/** The subject of the raw request/reply responder. */
export const RAW_SUBJECT = 'bench.raw.echo';
