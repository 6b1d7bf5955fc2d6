/**
 * One HTTP server for the overhead benchmark, chosen by name, serving `GET /ping` (a tiny JSON body)
 * on a free loopback port; prints `READY <port>` when it listens. The variants differ only in how the
 * request id is done:
 *   nest             NestJS 12 + Fastify, no request id at all (the baseline)
 *   nest-again       the baseline again, in a process of its own: how far apart two identical servers
 *                    measure in the same run, the noise every other ratio carries
 *   threadline       the same with RequestTracingModule (default options, no per-request log line)
 *   threadline-before-spans  the same with `@threadline/tracing` as it was before it made spans
 *                    (support/tracing-before-spans.ts, which builds it): the "export off" reference
 *   nestjs-cls       the nestjs-cls recipe: ClsModule middleware (mount, idGenerator from the header)
 *                    and a global interceptor that sets the response header
 *   fastify-context  the context at the Fastify layer: genReqId + @fastify/request-context + an
 *                    onRequest hook that sets the header; no nestjs-cls
 *   header-hook      the floor of any design that answers with the id: an onRequest hook that only
 *                    adds a generated UUID to Fastify's reply headers; no context, no raw writes
 *   threadline-otlp  `threadline` with its spans exported over OTLP (`startOtlpExport` from
 *                    `@threadline/tracing/otel`, to where OTEL_EXPORTER_OTLP_ENDPOINT says)
 *   nest-otel        `nest` with OpenTelemetry's auto-instrumentation instead of Threadline; started
 *                    with `--import otel-auto-instrumentation.js`, which it needs (it refuses to start without)
 * and the same on NestJS 12 + Express 5 (`@nestjs/platform-express`, Nest's default platform):
 *   express-nest         plain Nest on Express, no request id (the Express baseline)
 *   express-threadline   RequestTracingModule, the same options as `threadline`
 *   express-threadline-before-spans  the same with the tracing package before spans, as on Fastify
 *   express-nestjs-cls   the recipe of `nestjs-cls`, unchanged: ClsModule's middleware mounted (on Express,
 *                        a native Express middleware), the same idGenerator and the same header interceptor
 *   express-header       the Express floor: an Express middleware, used before the routes, that only sets a
 *                        generated UUID header (res.setHeader); no context
 */
import 'reflect-metadata';
import { fastifyRequestContext, requestContext } from '@fastify/request-context';
import { Controller, Get, Injectable, Module } from '@nestjs/common';
import type { CallHandler, DynamicModule, ExecutionContext, NestInterceptor } from '@nestjs/common';
import { APP_INTERCEPTOR, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { NextFunction, Request as ExpressRequest, Response as ExpressResponse } from 'express';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LogController } from 'fastify';
import { ClsModule, ClsService } from 'nestjs-cls';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { tap } from 'rxjs';
import { v4 as uuidv4 } from 'uuid';
import { getCurrentRequestId, RequestTracingModule } from '@threadline/tracing';
import { TRACING_BEFORE_SPANS_ENTRY } from '../support/tracing-before-spans.js';

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
    // Fastify's reply.header(), or on Express res.header() (Express's own alias of res.set()).
    context.switchToHttp().getResponse<FastifyReply | ExpressResponse>().header('x-request-id', this.cls.getId());
    return next.handle().pipe(tap());
  }
}

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });

/** The tracing module a traced variant imports: today's, or the one before spans. */
type TracingModule = Pick<typeof RequestTracingModule, 'forRoot'>;

/** The tracing module of a `-before-spans` variant, loaded from its build; undefined for the others. */
async function tracingModuleOf(variant: string): Promise<TracingModule | undefined> {
  if (!variant.endsWith('-before-spans')) return undefined;
  return ((await import(TRACING_BEFORE_SPANS_ENTRY)) as { RequestTracingModule: TracingModule }).RequestTracingModule;
}

function variantModule(variant: string, tracing: TracingModule = RequestTracingModule): DynamicModule {
  switch (variant) {
    case 'nest':
    case 'nest-again':
    case 'nest-otel':
    case 'fastify-context':
    case 'header-hook':
    case 'express-nest':
    case 'express-header':
      return { module: class BareModule {}, controllers: [PingController] };
    case 'threadline':
    case 'threadline-otlp':
    case 'threadline-before-spans':
    case 'express-threadline':
    case 'express-threadline-before-spans':
      return {
        module: class TracedModule {},
        imports: [tracing.forRoot({ logDestination: silent, logLevel: 'warn' })],
        controllers: [PingController],
      };
    case 'nestjs-cls':
    case 'express-nestjs-cls':
      return {
        module: class ClsRecipeModule {},
        imports: [
          ClsModule.forRoot({
            global: true,
            middleware: {
              mount: true,
              generateId: true,
              // The raw request on both platforms (Fastify's IncomingMessage, Express's request).
              idGenerator: (req: FastifyRequest['raw'] | ExpressRequest) =>
                (req.headers['x-request-id'] as string | undefined) ?? uuidv4(),
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

/** The Express variants: Nest's default platform, with its default options. */
async function expressApp(variant: string): Promise<NestExpressApplication> {
  @Module({ imports: [variantModule(variant, await tracingModuleOf(variant))] })
  class BenchModule {}
  const app = await NestFactory.create<NestExpressApplication>(BenchModule, new ExpressAdapter(), { logger: false });
  if (variant === 'express-header') {
    // Used now, before listen() registers the routes: it runs ahead of every route.
    app.use((_req: ExpressRequest, res: ExpressResponse, next: NextFunction) => {
      res.setHeader('x-request-id', randomUUID());
      next();
    });
  }
  return app;
}

async function main(): Promise<void> {
  const variant = process.argv[2] ?? 'nest';
  if (variant.startsWith('express-')) {
    const app = await expressApp(variant);
    await app.listen(0, '127.0.0.1');
    console.log(`READY ${(app.getHttpServer().address() as AddressInfo).port}`);
    return;
  }
  if (
    variant === 'nest-otel' &&
    (globalThis as Record<symbol, unknown>)[Symbol.for('threadline.bench.otel-auto')] !== true
  )
    throw new Error('nest-otel needs node --import otel-auto-instrumentation.js');
  if (variant === 'threadline-otlp') {
    // Loaded for this variant only, as the service loads it only when export is on.
    const { startOtlpExport } = await import('@threadline/tracing/otel');
    if (startOtlpExport() === undefined) throw new Error('threadline-otlp needs OTEL_EXPORTER_OTLP_ENDPOINT');
  }
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
  @Module({ imports: [variantModule(variant, await tracingModuleOf(variant))] })
  class BenchModule {}
  const app = await NestFactory.create<NestFastifyApplication>(BenchModule, adapter, { logger: false });
  await app.listen(0, '127.0.0.1');
  void getCurrentRequestId; // the traced variant's handlers could read it; the baseline never does
  console.log(`READY ${(app.getHttpServer().address() as AddressInfo).port}`);
}

await main();
