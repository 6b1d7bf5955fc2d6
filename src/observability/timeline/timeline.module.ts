import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { TimelineController } from './timeline.controller.js';
import { TIMELINE_OPTIONS, TimelineService } from './timeline.service.js';

export interface TimelineModuleOptions {
  enabled: boolean;
  requests: number;
  components: readonly string[];
}

/**
 * The request timeline: in every process, a ring of its recent requests' spans that the others can
 * query; on the Frontend, the `/debug/requests` routes. Off, it is nothing at all: no routes (a 404),
 * no ring, no span recorder (so no spans, unless something else records them).
 */
@Module({})
export class TimelineModule {
  static forRoot(options: TimelineModuleOptions): DynamicModule {
    if (!options.enabled) return { module: TimelineModule };
    return {
      module: TimelineModule,
      controllers: options.components.includes('frontend') ? [TimelineController] : [],
      providers: [
        TimelineService,
        { provide: TIMELINE_OPTIONS, useValue: { requests: options.requests, components: options.components } },
      ],
    };
  }
}
