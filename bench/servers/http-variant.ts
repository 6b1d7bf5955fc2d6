/**
 * One HTTP server for the overhead benchmark, chosen by name, serving `GET /ping` (a tiny JSON body)
 * on a free loopback port; prints `READY <port>` when it listens. The variants differ only in how the
 * request id is done:
 *   nest             NestJS 12 + Fastify, no request id at all (the baseline)
 *   nest-again       the baseline again, in a process of its own: how far apart two identical servers
 *                    measure in the same run, the noise every other ratio carries
 *   threadline       the same with RequestTracingModule (default options, no per-request log line)
 *   nestjs-cls       the nestjs-cls recipe: ClsModule middleware (mount, idGenerator from the header)
 *                    and a global interceptor that sets the response header
 *   fastify-context  the context at the Fastify layer: genReqId + @fastify/request-context + an
 *                    onRequest hook that sets the header; no nestjs-cls
 *   header-hook      the floor of any design that answers with the id: an onRequest hook that only
 *                    adds a generated UUID to Fastify's reply headers; no context, no raw writes
 */
import 'reflect-metadata';
import { fastifyRequestContext, requestContext } from '@fastify/request-context';
import { Controller, Get, Injectable, Module } from '@nestjs/common';
import type { CallHandler, DynamicModule, ExecutionContext, NestInterceptor } from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LogController } from 'fastify';
import { ClsModule, ClsService } from 'nestjs-cls';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { tap } from 'rxjs';
import { v4 as uuidv4 } from 'uuid';
import { getCurrentRequestId, RequestTracingModule } from '@threadline/tracing';

@Controller()
class PingController {
  @Get('ping')
  ping() {
    return { ok: true };
  }
}

@Injectable()
class ClsHeaderInterceptor implements NestInterceptor {
  constructor(private readonly cls: ClsService) {}

  intercept(context: ExecutionContext, next: CallHandler) {
    context.switchToHttp().getResponse<FastifyReply>().header('x-request-id', this.cls.getId());
    return next.handle().pipe(tap());
  }
}

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });

function variantModule(variant: string): DynamicModule {
  switch (variant) {
    case 'nest':
    case 'nest-again':
    case 'fastify-context':
    case 'header-hook':
      return { module: class BareModule {}, controllers: [PingController] };
    case 'threadline':
      return { module: class TracedModule {}, imports: [RequestTracingModule.forRoot({ logDestination: silent, logLevel: 'warn' })], controllers: [PingController] };
    case 'nestjs-cls':
      return {
        module: class ClsRecipeModule {},
        imports: [
          ClsModule.forRoot({
            global: true,
            middleware: {
              mount: true,
              generateId: true,
              idGenerator: (req: FastifyRequest['raw']) => (req.headers['x-request-id'] as string | undefined) ?? uuidv4(),
            },
          }),
        ],
        controllers: [PingController],
        providers: [{ provide: APP_INTERCEPTOR, useClass: ClsHeaderInterceptor }],
      };
    default:
      throw new Error(`unknown variant ${variant}`);
  }
}

async function main(): Promise<void> {
  const variant = process.argv[2] ?? 'nest';
  const adapter = new FastifyAdapter({ logController: new LogController({ disableRequestLogging: true }) });
  if (variant === 'fastify-context') {
    const fastify = adapter.getInstance();
    fastify.setGenReqId((req) => (req.headers['x-request-id'] as string | undefined) ?? uuidv4());
    await fastify.register(fastifyRequestContext);
    fastify.addHook('onRequest', (request, reply, done) => {
      requestContext.set('requestId' as never, request.id as never);
      reply.raw.setHeader('x-request-id', request.id);
      done();
    });
  }
  if (variant === 'header-hook') {
    adapter.getInstance().addHook('onRequest', (_request, reply, done) => {
      reply.header('x-request-id', randomUUID());
      done();
    });
  }
  @Module({ imports: [variantModule(variant)] })
  class BenchModule {}
  const app = await NestFactory.create<NestFastifyApplication>(BenchModule, adapter, { logger: false });
  await app.listen(0, '127.0.0.1');
  void getCurrentRequestId; // the traced variant's handlers could read it; the baseline never does
  console.log(`READY ${(app.getHttpServer().address() as AddressInfo).port}`);
}

await main();
