/** A tracing option has a value that cannot work; thrown at start-up. @publicApi */
export class InvalidTracingOptionError extends Error {
  constructor(option: string, reason: string) {
    super(`Invalid request-tracing option "${option}": ${reason}`);
    this.name = 'InvalidTracingOptionError';
  }
}

/**
 * `RequestTracingModule` is imported twice with different options (two `forRoot()` calls, in the app's
 * module and in a feature module, say): an app has one id policy and one header, and the two imports
 * would each take a part of the request. Thrown as an HTTP app starts. @publicApi
 */
export class RequestTracingImportedTwiceError extends Error {
  constructor() {
    super(
      'RequestTracingModule is imported more than once with different options: import it once, in the root ' +
        'module (it is global, so every module sees its providers), and take its options from one place.',
    );
    this.name = 'RequestTracingImportedTwiceError';
  }
}

/** The HTTP platform is neither Fastify nor Express, the two the ingress knows. @publicApi */
export class UnsupportedHttpPlatformError extends Error {
  constructor(platform: string) {
    super(
      `RequestTracingModule runs on @nestjs/platform-fastify or @nestjs/platform-express, but the application ` +
        `runs on "${platform}". Create it with new FastifyAdapter() or Nest's default Express platform.`,
    );
    this.name = 'UnsupportedHttpPlatformError';
  }
}

/**
 * nestjs-cls's `ClsMiddleware` ran before the request's context opened: on Fastify without context
 * frames (Node 22, or Node 24 with `--no-async-context-frame`), when the app set the adapter's
 * `setOnRequestHook` itself, in place of the module's. Its message is logged once, on the first such
 * request. @publicApi
 */
export class UnsupportedClsSetupError extends Error {
  constructor() {
    super(
      "ClsModule's ClsMiddleware (middleware: { mount: true }, or app.use()) runs before RequestTracingModule " +
        "opens the request's context on Fastify without context frames (Node 22, or Node 24 run with " +
        "--no-async-context-frame) when the app sets the adapter's setOnRequestHook itself: ClsService would see an " +
        "id of its own, or none, in its setup and lose what it sets there. Mount ClsModule's guard or interceptor " +
        'instead (ClsModule.forRoot({ guard: { mount: true } }) or { interceptor: { mount: true } }), leave ' +
        'setOnRequestHook to RequestTracingModule, or run Node 24.',
    );
    this.name = 'UnsupportedClsSetupError';
  }
}
