import { ConfigError } from './config.error.js';

// Written out rather than `Number()`, which takes `0x10`, `1e3`, ` 4 ` and `+3`: a value that reads as
// something other than what it says is more likely a mistake than a wish.
const WHOLE = /^\d+$/;
const DECIMAL = /^\d+(\.\d+)?$/;

/** A whole number from `min` to `max` in decimal digits; `fallback` when unset; anything else throws naming it. */
export function envWholeNumber(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  return envNumber(env, name, fallback, min, max, WHOLE, 'a whole number');
}

/** A number from `min` to `max` in decimal digits, with or without a fraction (`2.5`). */
export function envDecimal(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  return envNumber(env, name, fallback, min, max, DECIMAL, 'a number');
}

/** A TCP port, `0` for any free one; `fallback` when unset (undefined: none). */
export function envPort<T extends number | undefined>(env: NodeJS.ProcessEnv, name: string, fallback: T): number | T {
  const raw = env[name];
  if (raw === undefined) return fallback;
  const port = Number(raw);
  if (!WHOLE.test(raw) || port > 65535) {
    throw new ConfigError(name, `must be a port number from 0 to 65535, got ${JSON.stringify(raw)}`);
  }
  return port;
}

function envNumber(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
  shape: RegExp,
  what: string,
): number {
  const raw = env[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!shape.test(raw) || value < min || value > max) {
    throw new ConfigError(name, `must be ${what} from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}
