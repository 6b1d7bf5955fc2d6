/** A tracing option has a value that cannot work; thrown at start-up. @publicApi */
export class InvalidTracingOptionError extends Error {
  constructor(option: string, reason: string) {
    super(`Invalid request-tracing option "${option}": ${reason}`);
    this.name = 'InvalidTracingOptionError';
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
