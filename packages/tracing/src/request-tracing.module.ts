import { Inject, Module } from '@nestjs/common';
import type { DynamicModule, NestModule } from '@nestjs/common';
import { APP_INTERCEPTOR, HttpAdapterHost, ModuleRef, ModulesContainer } from '@nestjs/core';
import type { FastifyInstance, onRequestHookHandler } from 'fastify';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { ClientErrorResponder } from './client-error-responder.js';
import { clsMiddlewareFirstWarning, clsStoreSharing } from './cls-store-sharing.js';
import { expressAccessLog } from './express-access-log.js';
import { installExpressIngress } from './express-ingress.js';
import type { ExpressTarget } from './express-ingress.js';
import { installFastifyIngress } from './fastify-ingress.js';
import { ENTERED_CONTEXT_ENDS_WITH_CALLBACK } from './request-context.js';
import { RequestIdResolver } from './request-id.resolver.js';
import { RequestIdService } from './request-id.service.js';
import {
  ASYNC_OPTIONS_TYPE,
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN,
  OPTIONS_TYPE,
} from './request-tracing.module-definition.js';
import type { RequestTracingModuleOptions } from './request-tracing.module-definition.js';
import { RpcIngressInterceptor } from './rpc-ingress.interceptor.js';
import { resolveTracingOptions } from './request-tracing.options.js';
import type { ResolvedTracingOptions } from './request-tracing.options.js';
import { createTracingLogger } from './tracing-logger.factory.js';
import { TracingLogger } from './tracing-logger.service.js';
import {
  InvalidTracingOptionError,
  RequestTracingImportedTwiceError,
  UnsupportedHttpPlatformError,
} from './tracing.errors.js';
import { tracingGlobals } from './tracing.globals.js';
import { RPC_INTERCEPTOR_REGISTERED, TRACING_OPTIONS, TRACING_PINO } from './tracing.internal-constants.js';

/**
 * Request ids done right in a Nest app, on Fastify or Express: import `RequestTracingModule.forRoot()` once (it is
 * global). Every response carries the id, every log line written while handling a request has it, and
 * `RequestIdService` / `getCurrentRequestId()` return it anywhere in the request's code.
 * @publicApi
 */
@Module({
  providers: [
    {
      provide: TRACING_OPTIONS,
      inject: [MODULE_OPTIONS_TOKEN, { token: RPC_INTERCEPTOR_REGISTERED, optional: true }],
      useFactory: (options: RequestTracingModuleOptions, rpcRegistered = false) => {
        const resolved = resolveTracingOptions(options);
        // forRootAsync's factory runs after the module was defined: too late to register the interceptor.
        if (resolved.rpc && !rpcRegistered) {
          throw new InvalidTracingOptionError(
            'rpc',
            "it came from forRootAsync()'s factory, too late to register the RPC interceptor: give it to forRootAsync() itself, forRootAsync({ rpc: true, useFactory, ... })",
          );
        }
        return resolved;
      },
    },
    {
      provide: TRACING_PINO,
      inject: [MODULE_OPTIONS_TOKEN, TRACING_OPTIONS],
      useFactory: (options: RequestTracingModuleOptions, resolved: ResolvedTracingOptions) =>
        options.logger ?? createTracingLogger(resolved),
    },
    RequestIdResolver,
    RequestIdService,
    TracingLogger,
  ],
  exports: [RequestIdService, TracingLogger, RequestIdResolver],
})
export class RequestTracingModule extends ConfigurableModuleClass implements NestModule {
  /** `forRoot()`, with the RPC interceptor registered globally when `rpc` is set. */
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return withRpcInterceptor(super.forRoot(options), options.rpc === true);
  }

  /** `forRootAsync()`: `rpc` is read statically here, since providers cannot add providers. */
  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE & { rpc?: boolean }): DynamicModule {
    return withRpcInterceptor(super.forRootAsync(options), options.rpc === true);
  }

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly moduleRef: ModuleRef,
    private readonly resolver: RequestIdResolver,
    @Inject(TRACING_OPTIONS) private readonly options: ResolvedTracingOptions,
    @Inject(TRACING_PINO) private readonly logger: Logger,
    private readonly modules: ModulesContainer,
  ) {
    super();
    tracingGlobals.logger = logger;
    tracingGlobals.resolver = resolver;
  }

  /** The app's first import of this module (the one whose `configure` installs the ingress). */
  private firstImport(): RequestTracingModule {
    for (const module of this.modules.values())
      if (module.metatype === RequestTracingModule) return module.instance as RequestTracingModule;
    return this;
  }

  /**
   * Nest calls this for HTTP apps only, after its body parsers and before it registers any route:
   * Fastify copies the id generator and child-logger factory into each route as it is added, so they
   * must be set first, and the Express ingress re-enters the context between parsers and routes.
   */
  configure(): void {
    // Each import is a module of its own, and each would install the ingress: the first one does, and the
    // others only if they ask for the same (an app's module and a feature module may both import it).
    const first = this.firstImport();
    if (first !== this) {
      if (!sameOptions(first.options, this.options)) throw new RequestTracingImportedTwiceError();
      return;
    }
    const adapter = this.adapterHost.httpAdapter;
    const shareWithCls = clsStoreSharing(this.moduleRef);
    const clientErrors = new ClientErrorResponder(this.resolver, this.logger, this.options.clientErrorBody);
    switch (adapter.getType()) {
      case 'fastify': {
        const warnIfMiddlewareFirst = ENTERED_CONTEXT_ENDS_WITH_CALLBACK
          ? undefined
          : clsMiddlewareFirstWarning(this.moduleRef, this.logger);
        const firstHook = (hook: onRequestHookHandler) => adapter.setOnRequestHook(hook);
        installFastifyIngress(
          adapter.getInstance<FastifyInstance>(),
          this.resolver,
          this.logger,
          { share: shareWithCls, warnIfMiddlewareFirst },
          clientErrors,
          firstHook,
        );
        return;
      }
      case 'express': {
        const target: ExpressTarget = {
          app: adapter.getInstance(),
          server: adapter.getHttpServer() as Server | undefined,
        };
        const accessLog = this.options.accessLog ? expressAccessLog(this.logger) : undefined;
        installExpressIngress(target, this.resolver, { accessLog, shareWithCls, clientErrors });
        return;
      }
      default:
        throw new UnsupportedHttpPlatformError(adapter.getType());
    }
  }
}

/** Whether two imports' options ask for the same, value by value (functions and streams by identity). */
function sameOptions(a: ResolvedTracingOptions, b: ResolvedTracingOptions): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof ResolvedTracingOptions>;
  for (const key of keys) if (a[key] !== b[key]) return false;
  return true;
}

function withRpcInterceptor(module: DynamicModule, rpc: boolean): DynamicModule {
  if (!rpc) return module;
  return {
    ...module,
    providers: [
      ...(module.providers ?? []),
      { provide: APP_INTERCEPTOR, useClass: RpcIngressInterceptor },
      { provide: RPC_INTERCEPTOR_REGISTERED, useValue: true },
    ],
  };
}
