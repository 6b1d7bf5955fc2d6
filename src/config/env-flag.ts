import { parseBooleanText } from '@threadline/tracing/internal';
import { ConfigError } from './config.error.js';

/** A yes/no variable, read as the tracing variables are (`true`/`1`/`yes`, `false`/`0`/`no`); `fallback` when unset. */
export function envFlag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined) return fallback;
  const value = parseBooleanText(raw);
  if (value === undefined)
    throw new ConfigError(name, `must be true or false (1 or 0, yes or no), got ${JSON.stringify(raw)}`);
  return value;
}
