import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ReadinessController } from './readiness.controller.js';
import { READINESS_ENTRY_POINTS, READINESS_OPTIONAL, ReadinessService } from './readiness.service.js';

export interface HealthOptions {
  /** Classes besides the served components whose requests this process takes (the Frontend's controller). */
  entryPoints: readonly object[];
  /** Serve `GET /ready` on the service's HTTP server (a process that runs the Frontend). */
  http: boolean;
  /**
   * Components the requests call without needing them (an optional `@InjectComponent()`) to report,
   * by name, each with what it means that none runs: shown up, never failing readiness.
   */
  optional?: Readonly<Record<string, string>>;
}

/** Readiness for every process (global: `METRICS_PORT`'s server answers it too), on Terminus. */
@Module({})
export class HealthModule {
  static forRoot(options: HealthOptions): DynamicModule {
    return {
      module: HealthModule,
      global: true,
      // Readiness logs its own changes; Terminus would log every failed probe as an error.
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: options.http ? [ReadinessController] : [],
      providers: [
        ReadinessService,
        { provide: READINESS_ENTRY_POINTS, useValue: options.entryPoints },
        { provide: READINESS_OPTIONAL, useValue: options.optional ?? {} },
      ],
      exports: [ReadinessService],
    };
  }
}
