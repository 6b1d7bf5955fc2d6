import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/app.factory.js';
import { loadAppConfig } from '../../src/config/app.config.js';
import { loadLlmConfig } from '../../src/llm/llm.config.js';
import { LogCapture } from './log-capture.js';

export interface PipelineApp {
  app: NestFastifyApplication;
  logs: LogCapture;
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

/**
 * Boots the service exactly as `npm start` does (src/app.factory.ts), configured by `env` as the
 * process environment would, its log lines captured, listening on a free loopback port. The mocker
 * runs with no delays unless `env` sets them. `beforeListen` may add Fastify hooks or plugins.
 */
export async function startPipeline(
  env: NodeJS.ProcessEnv = {},
  beforeListen?: (app: NestFastifyApplication) => void,
): Promise<PipelineApp> {
  const fullEnv = { MOCKER_PREFILL_US_PER_TOKEN: '0', MOCKER_DECODE_MS_PER_TOKEN: '0', ...env };
  const logs = new LogCapture();
  const config = loadAppConfig(fullEnv);
  config.tracing.logDestination = logs;
  const app = await createApp(config, loadLlmConfig(fullEnv));
  beforeListen?.(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  return { app, logs, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}
