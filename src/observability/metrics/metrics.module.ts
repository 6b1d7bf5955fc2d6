import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { MetricsController } from './metrics.controller.js';
import { METRICS_PORT_OPTIONS, MetricsPortServer } from './metrics-port.server.js';
import type { MetricsPortOptions } from './metrics-port.server.js';
import { MetricsService } from './metrics.service.js';

/**
 * Prometheus metrics: `MetricsService` for every component, wherever the runtime creates it (hence
 * global), `GET /metrics` on the HTTP server, and `METRICS_PORT`'s server when one is asked for.
 */
@Module({})
export class MetricsModule {
  static forRoot(options: MetricsPortOptions): DynamicModule {
    return {
      module: MetricsModule,
      global: true,
      controllers: [MetricsController],
      providers: [MetricsService, MetricsPortServer, { provide: METRICS_PORT_OPTIONS, useValue: options }],
      exports: [MetricsService],
    };
  }
}
