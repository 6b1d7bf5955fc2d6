import { ConfigError } from '../config/config.error.js';

/** Which engine the Worker runs. */
export type EngineKind = 'mocker';

/** Which policy the Router uses to pick a worker. */
export type RouterPolicy = 'round-robin' | 'random';

/** The mocker engine's timing and capacity. */
export interface MockerConfig {
  /** Prefill time per prompt token, in microseconds (0: as fast as the machine allows). */
  prefillUsPerToken: number;
  /** Time per generated token, in milliseconds. */
  decodeMsPerToken: number;
  /** Sequences decoded at once; more wait in a queue. */
  maxRunning: number;
  /** Sequences that may wait; beyond that the worker answers 503. */
  maxWaiting: number;
}

/** The LLM pipeline's settings, read from the environment and checked at start-up. */
export interface LlmConfig {
  /** The model name served (`GET /v1/models`, and the only accepted `model`). */
  model: string;
  workers: number;
  engine: EngineKind;
  router: RouterPolicy;
  mocker: MockerConfig;
}

/** DI token of the LLM config. */
export const LLM_CONFIG = 'THREADLINE:LLM_CONFIG';

/** Reads `THREADLINE_*` and `MOCKER_*` variables; a bad value throws a ConfigError naming it. */
export function loadLlmConfig(env: NodeJS.ProcessEnv = process.env): LlmConfig {
  return {
    model: text(env, 'THREADLINE_MODEL', 'threadline-mocker'),
    workers: integer(env, 'THREADLINE_WORKERS', 2, 1, 64),
    engine: oneOf(env, 'THREADLINE_ENGINE', ['mocker'] as const, 'mocker'),
    router: oneOf(env, 'THREADLINE_ROUTER', ['round-robin', 'random'] as const, 'round-robin'),
    mocker: {
      prefillUsPerToken: number(env, 'MOCKER_PREFILL_US_PER_TOKEN', 20, 0, 1_000_000),
      decodeMsPerToken: number(env, 'MOCKER_DECODE_MS_PER_TOKEN', 10, 0, 10_000),
      maxRunning: integer(env, 'MOCKER_MAX_RUNNING', 16, 1, 4096),
      maxWaiting: integer(env, 'MOCKER_MAX_WAITING', 256, 0, 1_000_000),
    },
  };
}

function text(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const value = env[name] ?? fallback;
  if (!/^[\w.:/-]{1,128}$/.test(value)) throw new ConfigError(name, `must be 1-128 letters, digits or . _ : / -, got ${JSON.stringify(value)}`);
  return value;
}

function number(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    throw new ConfigError(name, `must be a number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const value = number(env, name, fallback, min, max);
  if (!Number.isInteger(value)) throw new ConfigError(name, `must be a whole number, got ${JSON.stringify(env[name])}`);
  return value;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const value = env[name] ?? fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}
