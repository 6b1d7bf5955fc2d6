import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { wantsOpenMetrics } from './exposition.js';
import { MetricsService } from './metrics.service.js';
import { ReadinessService } from '../health/readiness.service.js';

export const METRICS_PORT_OPTIONS = Symbol('METRICS_PORT_OPTIONS');

/** Where `METRICS_PORT`'s server listens; `port` unset: it does not. */
export interface MetricsPortOptions {
  port: number | undefined;
  host: string;
}

/**
 * `METRICS_PORT`: the metrics on a small `node:http` server of their own, for a process that serves no
 * HTTP otherwise (a worker over NATS): `GET /metrics`, and the probes `GET /health` (liveness) and
 * `GET /ready` (readiness). It logs the address it listens at.
 */
@Injectable()
export class MetricsPortServer implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Metrics');
  private server: Server | undefined;

  constructor(
    @Inject(METRICS_PORT_OPTIONS) private readonly options: MetricsPortOptions,
    private readonly metrics: MetricsService,
    private readonly readiness: ReadinessService,
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
    if (path !== '/metrics' && path !== '/ready' && path !== '/health')
      return void response.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return void response
        .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' })
        .end('Method Not Allowed\n');
    }
    try {
      const { status, contentType, body } = await this.render(path, request);
      response.writeHead(status, {
        'content-type': contentType,
        'cache-control': 'no-cache, no-store, must-revalidate',
      });
      response.end(request.method === 'HEAD' ? undefined : body);
    } catch (error) {
      this.logger.error({ msg: `${path} could not be answered`, err: error });
      response.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error\n');
    }
  }

  private async render(
    path: string,
    request: IncomingMessage,
  ): Promise<{ status: number; contentType: string; body: string }> {
    const json = 'application/json; charset=utf-8';
    if (path === '/health') return { status: 200, contentType: json, body: JSON.stringify({ status: 'ok' }) };
    if (path === '/ready') {
      const { status, body } = await this.readiness.check();
      return { status, contentType: json, body: JSON.stringify(body) };
    }
    return { status: 200, ...(await this.metrics.render(wantsOpenMetrics(request.headers.accept))) };
  }
}
