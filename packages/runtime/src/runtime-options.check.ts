import { getComponentIdentity } from './component.decorator.js';
import type { RuntimeModuleOptions } from './runtime.options.js';

/** A `RuntimeModule.forRoot()` option has a value that cannot work; thrown as the module is defined. @publicApi */
export class InvalidRuntimeOptionError extends Error {
  constructor(option: string, reason: string) {
    super(`Invalid runtime option "${option}": ${reason}`);
    this.name = 'InvalidRuntimeOptionError';
  }
}

const TRANSPORTS: ReadonlySet<string> = new Set(['inprocess', 'nats']);

/**
 * Refuses, naming the option, what would otherwise start wrong in silence: a transport that does not
 * exist, replicas of a component the service does not have (a misspelt name), and a count of them that
 * is not a whole number (0: none of it here).
 */
export function checkRuntimeOptions(options: RuntimeModuleOptions): void {
  const transport: unknown = options.transport ?? 'inprocess';
  if (typeof transport !== 'string' || !TRANSPORTS.has(transport))
    throw new InvalidRuntimeOptionError('transport', `must be "inprocess" or "nats", got ${JSON.stringify(transport)}`);
  if (transport === 'nats' && typeof options.nats?.url !== 'string')
    throw new InvalidRuntimeOptionError('nats', 'transport "nats" needs the nats options, with the server\'s url');
  const names = options.components.map((target) => getComponentIdentity(target).name);
  for (const [name, count] of Object.entries(options.replicas ?? {})) {
    if (!names.includes(name)) {
      throw new InvalidRuntimeOptionError(
        `replicas.${name}`,
        `the service has no component named "${name}" (its components: ${names.join(', ') || 'none'})`,
      );
    }
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0)
      throw new InvalidRuntimeOptionError(`replicas.${name}`, `must be a whole number, got ${JSON.stringify(count)}`);
  }
}
