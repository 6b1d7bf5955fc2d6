import 'reflect-metadata';
import { createApp } from './app.factory.js';
import { loadAppConfig } from './config/app.config.js';
import { listenOptions } from './http/http-limits.js';
import { loadLlmConfig } from './llm/llm.config.js';
import { installTestStall } from './test-stall.js';

async function main(): Promise<void> {
  const config = loadAppConfig();
  const llm = loadLlmConfig();
  installTestStall();
  const app = await createApp(config, llm);
  // Only the Frontend serves HTTP; a process of other components serves them over NATS alone.
  if (config.runtime.components.includes('frontend'))
    await app.listen(listenOptions(config.port, config.host, config.httpLimits));
  else await app.init();
  // A stop asked for is a clean exit: finish (or stop) the work in flight, close, exit 0.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      void app.close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    });
  }
}

main().catch((error: unknown) => {
  // A bad configuration value ends start-up with one readable line, not a stack trace. The exit is
  // forced: a port taken found at listen leaves METRICS_PORT's server, NATS and timers holding on.
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exit(1);
});
