import { Inject, Injectable } from '@nestjs/common';
import { COMPONENT_TRANSPORT } from './runtime.internal-constants.js';
import type { ComponentTransport } from './transport/component-transport.js';

/** How long `ask()` waits for the other processes' answers by default, in milliseconds. */
const DEFAULT_QUERY_TIMEOUT_MS = 300;

/** Dot-separated tokens of letters, digits, `_` and `-`: a topic is part of a NATS subject. */
const TOPIC = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export interface AskOptions {
  /** The longest `ask()` waits for other processes; it returns sooner once every known instance answered. */
  timeoutMs?: number;
}

/**
 * Scatter-gather across the processes of the service, over the same transport as calls: a process
 * `answer()`s a topic, and `ask()` collects the answers of every process that does, its own among them.
 * In one process that is the local answer; over NATS, each process that answers replies, and the asker
 * stops waiting at a short deadline or once every instance it knows of has answered. For debugging and
 * inspection, not for the request path: an answer may be missing when a process is slow or gone.
 * @publicApi
 */
@Injectable()
export class ProcessQueries {
  constructor(@Inject(COMPONENT_TRANSPORT) private readonly transport: ComponentTransport) {}

  /**
   * Answers queries on `topic` from this process, one handler per topic; returns the function that
   * stops it. A handler returning `undefined` (or failing) gives no answer. Answers travel as JSON.
   */
  answer<Q, A>(topic: string, handler: (query: Q) => A | undefined | Promise<A | undefined>): () => void {
    return this.transport.answerQueries(checkedTopic(topic), (query) => handler(query as Q));
  }

  /** The answers of every process to `query` on `topic`, in no particular order. */
  async ask<Q, A>(topic: string, query: Q, options: AskOptions = {}): Promise<A[]> {
    const answers = await this.transport.ask(checkedTopic(topic), query, options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS);
    return answers as A[];
  }
}

function checkedTopic(topic: string): string {
  if (!TOPIC.test(topic)) throw new Error(`A query topic is dot-separated words of [A-Za-z0-9_-], got "${topic}".`);
  return topic;
}
