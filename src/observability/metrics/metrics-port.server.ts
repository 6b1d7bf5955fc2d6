import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { wantsOpenMetrics } from './exposition.js';
import { MetricsService } from './metrics.service.js';

export const METRICS_PORT_OPTIONS = Symbol('METRICS_PORT_OPTIONS');

/** Where `METRICS_PORT`'s server listens; `port` unset: it does not. */
export interface MetricsPortOptions {
  port: number | undefined;
  host: string;
}

/**
 * `METRICS_PORT`: the metrics on a small `node:http` server of their own, for a process that serves no
 * HTTP otherwise (a worker over NATS). `GET /metrics` only; it logs the address it listens at.
 */
@Injectable()
export class MetricsPortServer implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private server: Server | undefined;

  constructor(
    @Inject(METRICS_PORT_OPTIONS) private readonly options: MetricsPortOptions,
    private readonly metrics: MetricsService,
  ) {}

  // At module init, before any component starts (or connects to NATS): a port taken stops start-up early.
  async onModuleInit(): Promise<void> {
    const { port, host } = this.options;
    if (port === undefined) return;
    const server = createServer((request, response) => void this.answer(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new Error(`METRICS_PORT ${port} on ${host}: ${error.message}`)));
      server.listen(port, host, () => {
        server.removeAllListeners('error');
        server.on('error', (error) => this.logger.error({ msg: 'the metrics server failed', err: error }));
        resolve();
      });
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.logger.log(`metrics at http://${shown}:${address.port}/metrics`);
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async answer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics') return void response.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return void response
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' })
        .end('Method Not Allowed\n');
    }
    try {
      const { contentType, body } = await this.metrics.render(wantsOpenMetrics(request.headers.accept));
      response.writeHead(200, { 'content-type': contentType });
      response.end(request.method === 'HEAD' ? undefined : body);
    } catch (error) {
      this.logger.error({ msg: 'the metrics could not be rendered', err: error });
      response.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error\n');
    }
  }
}
