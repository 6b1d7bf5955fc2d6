import { Inject, Injectable, Logger } from '@nestjs/common';
import { COMPONENT_TRANSPORT } from './runtime.internal-constants.js';
import type { ComponentTransport } from './transport/component-transport.js';

/**
 * Publish/subscribe between components, over the same transport as their calls: how workers tell a
 * router what they cache and how loaded they are. Events are best-effort and unordered across
 * publishers; a subscriber that throws is logged and keeps its subscription.
 * @publicApi
 */
@Injectable()
export class ComponentEvents {
  private readonly logger = new Logger('Runtime');

  constructor(@Inject(COMPONENT_TRANSPORT) private readonly transport: ComponentTransport) {}

  publish<T>(topic: string, payload: T): void {
    this.transport.publish(topic, payload);
  }

  subscribe<T>(topic: string, handler: (payload: T) => void): () => void {
    return this.transport.subscribe(topic, (payload) => {
      try {
        handler(payload as T);
      } catch (error) {
        this.logger.error({ msg: `a subscriber of "${topic}" failed`, err: error });
      }
    });
  }
}
