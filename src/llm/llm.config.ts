import { availableParallelism } from 'node:os';
import { ConfigError } from '../config/config.error.js';
import { envFlag } from '../config/env-flag.js';
import { envDecimal, envWholeNumber } from '../config/env-number.js';

const ENGINE_KINDS = ['mocker', 'openai'] as const;
const ROUTING_POLICY_KINDS = ['kv', 'round-robin', 'random'] as const;

/** Which engine the Worker runs. */
export type EngineKind = (typeof ENGINE_KINDS)[number];

/** Which routing policy the Router uses to pick a worker. */
export type RoutingPolicyKind = (typeof ROUTING_POLICY_KINDS)[number];

/** The mocker engine's timing and capacity. */
export interface MockerConfig {
  /** Prefill time per prompt token, in microseconds (0: as fast as the machine allows). */
  prefillUsPerToken: number;
  /** Time per generated token, in milliseconds. */
  decodeMsPerToken: number;
  /** Sequences decoded at once; more wait in a queue. */
  maxRunning: number;
  /** Sequences that may wait; beyond that the worker answers 429. */
  maxWaiting: number;
  /** Tokens per KV block. */
  blockSize: number;
  /** KV cache capacity per worker, in blocks. */
  kvBlocks: number;
}

/** Disaggregated serving: long prompts are prefilled by a Prefill worker, then decoded by a Worker. */
export interface DisaggConfig {
  enabled: boolean;
  /** Prefill worker instances in the process. */
  prefillWorkers: number;
  /** Uncached prompt tokens above which a Worker has a Prefill worker do the prefill. */
  thresholdTokens: number;
  /** Prefill requests waiting across the Prefill workers at or above which Workers prefill locally. */
  maxPrefillQueue: number;
}

/** The OpenAI-compatible server the `openai` engine forwards to (vLLM, SGLang, llama.cpp, Ollama…). */
export interface UpstreamConfig {
  /** Its base URL, up to and including `/v1`. */
  url: string | undefined;
  apiKey: string | undefined;
  /** The model name to ask it for. */
  model: string;
  /** How long one upstream request may take, in milliseconds. */
  timeoutMs: number;
  /**
   * The headers `OPENAI_CUSTOM_HEADERS` names (lines of `Name: value`), which the `openai` SDK would add
   * to every upstream request: meant for OpenAI, they are removed.
   */
  sdkCustomHeaders: string[];
}

/** The LLM pipeline's settings, read from the environment and checked at start-up. */
export interface LlmConfig {
  /** The model name served (`GET /v1/models`, and the only accepted `model`). */
  model: string;
  workers: number;
  engine: EngineKind;
  router: RoutingPolicyKind;
  mocker: MockerConfig;
  disagg: DisaggConfig;
  upstream: UpstreamConfig;
  /** The `Retry-After` of a 429 or 503, in seconds. */
  retryAfterSeconds: number;
  /** Prompt plus completion tokens allowed; with the `openai` engine the upstream's own, when it reports one. */
  maxModelLen: number;
  /** Threads that tokenize long prompts off the event loop; 0: every prompt on it. */
  tokenizerThreads: number;
  /**
   * How long the Frontend gives a request, in ms: its deadline, which every call of the pipeline carries
   * and which stops their work when it passes (`THREADLINE_REQUEST_TIMEOUT_MS`).
   */
  requestTimeoutMs: number;
  /**
   * How many times one choice may move to another worker after its worker failed, before or during its
   * stream (`THREADLINE_MIGRATION_LIMIT`); 0: never, the failure reaches the client.
   */
  migrationLimit: number;
}

/** DI token of the LLM config. */
export const LLM_CONFIG = 'THREADLINE:LLM_CONFIG';

/** Reads `THREADLINE_*` and `MOCKER_*` variables; a bad value throws a ConfigError naming it. */
export function loadLlmConfig(env: NodeJS.ProcessEnv = process.env): LlmConfig {
  const model = text(env, 'THREADLINE_MODEL', 'threadline-mocker');
  const engine = oneOf(env, 'THREADLINE_ENGINE', ENGINE_KINDS, 'mocker');
  const config: LlmConfig = {
    model,
    workers: envWholeNumber(env, 'THREADLINE_WORKERS', 2, 1, 64),
    engine,
    router: oneOf(env, 'THREADLINE_ROUTER', ROUTING_POLICY_KINDS, 'kv'),
    mocker: {
      prefillUsPerToken: envDecimal(env, 'MOCKER_PREFILL_US_PER_TOKEN', 20, 0, 1_000_000),
      decodeMsPerToken: envDecimal(env, 'MOCKER_DECODE_MS_PER_TOKEN', 10, 0, 10_000),
      maxRunning: envWholeNumber(env, 'MOCKER_MAX_RUNNING', 16, 1, 4096),
      maxWaiting: envWholeNumber(env, 'MOCKER_MAX_WAITING', 256, 0, 1_000_000),
      blockSize: envWholeNumber(env, 'MOCKER_BLOCK_SIZE', 16, 1, 1024),
      kvBlocks: envWholeNumber(env, 'MOCKER_KV_BLOCKS', 8192, 1, 10_000_000),
    },
    disagg: {
      enabled: envFlag(env, 'THREADLINE_DISAGG', false),
      prefillWorkers: envWholeNumber(env, 'THREADLINE_PREFILL_WORKERS', 1, 1, 64),
      thresholdTokens: envWholeNumber(env, 'THREADLINE_DISAGG_THRESHOLD', 512, 0, 10_000_000),
      maxPrefillQueue: envWholeNumber(env, 'THREADLINE_MAX_PREFILL_QUEUE', 8, 1, 1_000_000),
    },
    upstream: {
      url: env.UPSTREAM_URL === undefined ? undefined : url(env, 'UPSTREAM_URL'),
      // Empty is unset, as an env file's `UPSTREAM_API_KEY=` means.
      apiKey: unlessEmpty(env.UPSTREAM_API_KEY),
      model: unlessEmpty(env.UPSTREAM_MODEL) ?? model,
      timeoutMs: envWholeNumber(env, 'UPSTREAM_TIMEOUT_MS', 600_000, 1, 86_400_000),
      sdkCustomHeaders: (env.OPENAI_CUSTOM_HEADERS ?? '').split('\n').flatMap((line) => {
        const colon = line.indexOf(':');
        return colon < 0 ? [] : [line.slice(0, colon).trim()];
      }),
    },
    retryAfterSeconds: envWholeNumber(env, 'THREADLINE_RETRY_AFTER_SECONDS', 1, 1, 3600),
    // 8192: 16 running sequences (MOCKER_MAX_RUNNING) of a full context fill a mocker's KV cache exactly.
    maxModelLen: envWholeNumber(env, 'THREADLINE_MAX_MODEL_LEN', 8192, 1, 100_000_000),
    // A thread per core beyond the event loop's, at most 4.
    tokenizerThreads: envWholeNumber(
      env,
      'THREADLINE_TOKENIZER_THREADS',
      Math.max(1, Math.min(4, availableParallelism() - 1)),
      0,
      64,
    ),
    // Generous: a long generation, queued behind others, fits; what it bounds is work nobody waits for.
    requestTimeoutMs: envWholeNumber(env, 'THREADLINE_REQUEST_TIMEOUT_MS', 300_000, 1, 86_400_000),
    migrationLimit: envWholeNumber(env, 'THREADLINE_MIGRATION_LIMIT', 3, 0, 100),
  };
  if (engine === 'openai' && config.upstream.url === undefined) {
    throw new ConfigError(
      'UPSTREAM_URL',
      'must be set when THREADLINE_ENGINE=openai (the OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1)',
    );
  }
  if (engine === 'openai' && config.disagg.enabled) {
    throw new ConfigError(
      'THREADLINE_DISAGG',
      'works with the mocker engine only: an upstream server does its own prefill',
    );
  }
  return config;
}

function url(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name]!;
  // What the message shows of the value: never a password it may hold.
  const shown = JSON.stringify(value.replace(/\/\/[^/@]*@/, '//…@'));
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(name, `must be an http(s) URL, got ${shown}`);
  }
  // The URL parser drops spaces at either end; a value holding one was not typed as meant.
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || /\s/.test(value)) {
    throw new ConfigError(name, `must be an http(s) URL, got ${shown}`);
  }
  // The SDK would drop them and every request fail, the URL with its password in messages and logs.
  if (parsed.username !== '' || parsed.password !== '') {
    throw new ConfigError(
      name,
      'must not hold credentials (user:password@): the engine sends UPSTREAM_API_KEY as its bearer token',
    );
  }
  return value.replace(/\/+$/, '');
}

function unlessEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

function text(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const value = env[name] ?? fallback;
  if (!/^[\w.:/-]{1,128}$/.test(value))
    throw new ConfigError(name, `must be 1-128 letters, digits or . _ : / -, got ${JSON.stringify(value)}`);
  return value;
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const value = env[name] ?? fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(name, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}
