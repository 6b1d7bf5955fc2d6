/** A tracing option has a value that cannot work; thrown at start-up. @publicApi */
export class InvalidTracingOptionError extends Error {
  constructor(option: string, reason: string) {
    super(`Invalid request-tracing option "${option}": ${reason}`);
    this.name = 'InvalidTracingOptionError';
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
