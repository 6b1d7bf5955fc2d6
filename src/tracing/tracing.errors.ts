/** A tracing option has a value that cannot work; thrown at start-up. @publicApi */
export class InvalidTracingOptionError extends Error {
  constructor(option: string, reason: string) {
    super(`Invalid request-tracing option "${option}": ${reason}`);
    this.name = 'InvalidTracingOptionError';
  }
}

/** The request-id context was written where there is none. @publicApi */
export class NoRequestContextError extends Error {
  constructor(action: string) {
    super(
      `Cannot ${action}: no request context is active. Run the code inside RequestIdService.run(fn) ` +
        'or a @Traced() method, or let an HTTP/RPC entry point open the context.',
    );
    this.name = 'NoRequestContextError';
  }
}

/** The HTTP platform is not Fastify, which the ingress hooks need. @publicApi */
export class UnsupportedHttpPlatformError extends Error {
  constructor(platform: string) {
    super(
      `RequestTracingModule needs @nestjs/platform-fastify, but the application runs on "${platform}". ` +
        'Create the application with new FastifyAdapter().',
    );
    this.name = 'UnsupportedHttpPlatformError';
  }
}
