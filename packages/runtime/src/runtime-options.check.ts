import { getComponentIdentity } from './component.decorator.js';
import type { ComponentClass, NatsOptions, RuntimeModuleOptions } from './runtime.options.js';

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
 * exist, NATS settings that are not numbers of their range, two components of one name, replicas of a
 * component the service does not have (a misspelt name), and a count of them that is not a whole number
 * (0: none of it here). An option left `undefined` takes its default.
 */
export function checkRuntimeOptions(options: RuntimeModuleOptions): void {
  const transport: unknown = options.transport ?? 'inprocess';
  if (typeof transport !== 'string' || !TRANSPORTS.has(transport))
    throw new InvalidRuntimeOptionError('transport', `must be "inprocess" or "nats", got ${JSON.stringify(transport)}`);
  if (transport === 'nats' && typeof options.nats?.url !== 'string')
    throw new InvalidRuntimeOptionError('nats', 'transport "nats" needs the nats options, with the server\'s url');
  if (transport === 'nats') checkNatsOptions(options.nats!);
  const names = options.components.map((target) => getComponentIdentity(target).name);
  const seen = new Map<string, ComponentClass>();
  for (const target of options.components) {
    const { name, namespace } = getComponentIdentity(target);
    const address = `${namespace}.${name}`;
    const earlier = seen.get(address);
    // Clients and subjects are keyed by the name: the second class would take the first's place.
    if (earlier !== undefined && earlier !== target)
      throw new InvalidRuntimeOptionError('components', `${earlier.name} and ${target.name} are both named "${name}"`);
    seen.set(address, target);
  }
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

/** The NATS settings that are numbers: each, when given, finite and in its range. */
function checkNatsOptions(nats: NatsOptions): void {
  checkNumber('nats.shutdownGraceMs', nats.shutdownGraceMs, 0, false);
  checkNumber('nats.maxMessageBytes', nats.maxMessageBytes, 1, true);
  const pacing: unknown = nats.pacing;
  if (pacing === undefined || pacing === false) return;
  if (typeof pacing !== 'object' || pacing === null)
    throw new InvalidRuntimeOptionError('nats.pacing', `must be false or an object, got ${JSON.stringify(pacing)}`);
  const { frames, bytes, stallMs } = pacing as Record<string, unknown>;
  checkNumber('nats.pacing.frames', frames, 1, true);
  checkNumber('nats.pacing.bytes', bytes, 1, true);
  checkNumber('nats.pacing.stallMs', stallMs, 1, false);
}

function checkNumber(option: string, value: unknown, least: number, whole: boolean): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < least || (whole && !Number.isInteger(value))) {
    const kind = whole ? 'a whole number' : 'a number';
    throw new InvalidRuntimeOptionError(option, `must be ${kind} of at least ${least}, got ${JSON.stringify(value)}`);
  }
}
