import type { TransportKind } from '@threadline/runtime';
import { tracingOptionsFromEnv } from '@threadline/tracing';
import { resolveTracingOptions } from '@threadline/tracing/internal';
import { ConfigError } from './config.error.js';
import { envFlag } from './env-flag.js';
import { envPort, envWholeNumber } from './env-number.js';
import { loadHttpLimits } from './http-limits.config.js';
import { loadTraceExport } from './traces.config.js';
import { loadMetricsPort } from './metrics.config.js';
import { loadTimelineConfig } from './timeline.config.js';
import { loadAllowedHosts } from './allowed-hosts.config.js';
import type { AllowedHosts } from './allowed-hosts.config.js';
import { loadCorsOrigins } from './cors.config.js';
import type { CorsOrigins } from './cors.config.js';
import type { TimelineConfig } from './timeline.config.js';
import type { HttpLimits } from './http-limits.config.js';
import type { OtlpExportConfig, ResolvedTracingOptions } from '@threadline/tracing/internal';

/** The components of the service, by name. */
export const COMPONENT_NAMES = ['frontend', 'processor', 'router', 'worker', 'prefill'] as const;
export type ComponentName = (typeof COMPONENT_NAMES)[number];

/** Where the components run and how they talk. */
export interface RuntimeConfig {
  transport: TransportKind;
  natsUrl: string;
  /** The components this process runs (`THREADLINE_COMPONENTS`); `all` lists every one. */
  components: ComponentName[];
  /** `THREADLINE_COMPONENTS` was `all`. */
  allComponents: boolean;
  /** How long SIGTERM lets calls in flight finish, in milliseconds. */
  shutdownGraceMs: number;
  /** Whether this process's streamed calls over NATS offer acknowledgements (`THREADLINE_STREAM_PACING`). */
  streamPacing: boolean;
}

/** Everything the service reads from its environment, checked once at start-up. */
export interface AppConfig {
  port: number;
  host: string;
  /** Fastify's "incoming request" / "request completed" lines (`LOG_REQUESTS`). */
  requestLogging: boolean;
  /** The largest request body accepted, in bytes (`MAX_BODY_BYTES`); larger ones get a 413. */
  bodyLimit: number;
  /** Request timeout, connection cap and buffered-body cap (`REQUEST_BODY_TIMEOUT_MS`, `MAX_CONNECTIONS`, `MAX_BUFFERED_BODY_BYTES`). */
  httpLimits: HttpLimits;
  tracing: ResolvedTracingOptions;
  /** Where spans are exported over OTLP (the standard `OTEL_*` variables); unset: not exported. */
  traces: OtlpExportConfig | undefined;
  runtime: RuntimeConfig;
  /** Where a process serves its metrics besides `GET /metrics` (`METRICS_PORT`); unset: nowhere else. */
  metricsPort: number | undefined;
  /** The request timeline and its `/debug/requests` routes (`THREADLINE_DEBUG_ROUTES`, `THREADLINE_TIMELINE_REQUESTS`). */
  timeline: TimelineConfig;
  /** The origins whose pages may call the service from a browser (`CORS_ORIGINS`). */
  corsOrigins: CorsOrigins;
  /** The host names the service answers to (`ALLOWED_HOSTS`). */
  allowedHosts: AllowedHosts;
}

/** Reads and checks the configuration; a bad value throws an error that names the variable. */
export function loadAppConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const bodyLimit = envWholeNumber(env, 'MAX_BODY_BYTES', 4 * 1024 * 1024, 1024, 1024 ** 3);
  const host = parseHost(env.HOST ?? '127.0.0.1');
  const port = envPort(env, 'PORT', 8080);
  const runtime = parseRuntime(env);
  return {
    port,
    host,
    requestLogging: envFlag(env, 'LOG_REQUESTS', true),
    bodyLimit,
    httpLimits: loadHttpLimits(env, bodyLimit),
    tracing: resolveTracingOptions(tracingOptionsFromEnv(env)),
    traces: loadTraceExport(env),
    runtime,
    metricsPort: metricsPortBeside(loadMetricsPort(env), port, runtime.components.includes('frontend')),
    timeline: loadTimelineConfig(env, host),
    corsOrigins: loadCorsOrigins(env),
    allowedHosts: loadAllowedHosts(env, host),
  };
}

/** `METRICS_PORT`, which cannot be the port the Frontend of this process listens on (`0`: any free one). */
function metricsPortBeside(metricsPort: number | undefined, port: number, frontend: boolean): number | undefined {
  if (frontend && metricsPort !== undefined && metricsPort !== 0 && metricsPort === port)
    throw new ConfigError(
      'METRICS_PORT',
      `must not be PORT (${port}), where the Frontend listens, got "${metricsPort}"`,
    );
  return metricsPort;
}

function parseHost(value: string): string {
  // Node takes an empty host for "every address", the opposite of what an unset one means here.
  if (!/^[^\s/]+$/.test(value)) {
    throw new ConfigError('HOST', `must be a host name or an IP address, got ${JSON.stringify(value)}`);
  }
  return value;
}

function parseRuntime(env: NodeJS.ProcessEnv): RuntimeConfig {
  const transport = env.THREADLINE_TRANSPORT ?? 'inprocess';
  if (transport !== 'inprocess' && transport !== 'nats') {
    throw new ConfigError('THREADLINE_TRANSPORT', `must be "inprocess" or "nats", got ${JSON.stringify(transport)}`);
  }
  const natsUrl = env.NATS_URL ?? 'nats://127.0.0.1:4222';
  if (!/^(nats|tls|wss?):\/\/[^\s]+$/.test(natsUrl) || !URL.canParse(natsUrl)) {
    throw new ConfigError(
      'NATS_URL',
      `must be a NATS URL such as nats://127.0.0.1:4222, got ${JSON.stringify(natsUrl)}`,
    );
  }
  // A name listed twice counts once; an empty one (`worker,`) is a typo, refused like an unknown one.
  const names = (env.THREADLINE_COMPONENTS ?? 'all').split(',').map((name) => name.trim().toLowerCase());
  const listed = names.filter((name, index) => names.indexOf(name) === index);
  const allComponents = listed.length === 1 && listed[0] === 'all';
  const unknown = listed.filter((name) => !(COMPONENT_NAMES as readonly string[]).includes(name));
  if (!allComponents && unknown.length > 0) {
    throw new ConfigError(
      'THREADLINE_COMPONENTS',
      `must be "all" or a comma list of ${COMPONENT_NAMES.join(', ')}, got ${JSON.stringify(env.THREADLINE_COMPONENTS)}`,
    );
  }
  if (!allComponents && transport === 'inprocess' && listed.length < COMPONENT_NAMES.length - 1) {
    throw new ConfigError(
      'THREADLINE_COMPONENTS',
      'lists only some components, which needs THREADLINE_TRANSPORT=nats to reach the others',
    );
  }
  const pacing = env.THREADLINE_STREAM_PACING ?? 'on';
  if (pacing !== 'on' && pacing !== 'off')
    throw new ConfigError('THREADLINE_STREAM_PACING', `must be "on" or "off", got ${JSON.stringify(pacing)}`);
  return {
    transport,
    natsUrl,
    components: allComponents ? [...COMPONENT_NAMES] : (listed as ComponentName[]),
    allComponents,
    shutdownGraceMs: envWholeNumber(env, 'THREADLINE_SHUTDOWN_GRACE_MS', 10_000, 0, 3_600_000),
    streamPacing: pacing === 'on',
  };
}
