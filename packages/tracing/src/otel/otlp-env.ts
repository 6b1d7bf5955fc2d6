// What reading the standard OpenTelemetry variables shares. No OpenTelemetry package is imported here.

/** A standard OpenTelemetry variable holds a value that cannot work. @publicApi */
export class OtlpConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(`${variable} ${reason}`);
    this.name = 'OtlpConfigError';
  }
}

/** A variable's value; an empty one counts as unset, as the specification says. */
export function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === '' ? undefined : raw;
}
