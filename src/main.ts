import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from './app.factory.js';
import { loadAppConfig } from './config/app.config.js';
import { listenOptions } from './http/http-limits.js';
import { holdStartingPort } from './http/starting-port.js';
import { loadLlmConfig } from './llm/llm.config.js';
import { installTestStall } from './test-stall.js';

async function main(): Promise<void> {
  const config = loadAppConfig();
  const llm = loadLlmConfig();
  installTestStall();
  const stop = stopOnSignals();
  // Only the Frontend serves HTTP; a process of other components serves them over NATS alone.
  const frontend = config.runtime.components.includes('frontend');
  // Over NATS, the app is built once the bus answers: the port says meanwhile that the service is starting.
  const starting =
    frontend && config.runtime.transport === 'nats'
      ? await holdStartingPort(config, config.runtime.natsUrl, config.tracing)
      : undefined;
  const app = await createApp(config, llm);
  stop.started(app);
  await starting?.close();
  if (frontend) await app.listen(listenOptions(config.port, config.host, config.httpLimits));
  else await app.init();
}

/**
 * A stop asked for (SIGTERM, SIGINT) is a clean exit: finish (or stop) the work in flight, close, exit 0.
 * Listened for from the start: a process still starting (waiting for NATS, say) has nothing to drain and
 * exits at once. A second signal changes nothing: the stop under way is bounded by its grace already.
 */
function stopOnSignals(): { started(app: NestFastifyApplication): void } {
  const logger = new Logger('Shutdown');
  let app: NestFastifyApplication | undefined;
  let asked: NodeJS.Signals | undefined;
  const close = (started: NestFastifyApplication) =>
    started.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (asked !== undefined) return logger.warn(`${signal} while stopping: the stop under way goes on`);
      asked = signal;
      if (app === undefined) process.exit(0);
      logger.log(`${signal}: stopping`);
      void close(app);
    });
  }
  return {
    started(created) {
      app = created;
    },
  };
}

main().catch((error: unknown) => {
  // A bad configuration value ends start-up with one readable line, not a stack trace. The exit is
  // forced: a port taken found at listen leaves METRICS_PORT's server, NATS and timers holding on.
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exit(1);
});
