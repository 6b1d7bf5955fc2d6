import type { ComponentIdentity } from '../../component.decorator.js';

/**
 * Every NATS subject the runtime uses, in one place. Calls to a component go to its endpoint subject,
 * shared by its instances in one queue group (so each call reaches one of them); calls to one chosen
 * instance go to that instance's own subject. Cancellations, discovery and events are broadcast.
 */
export const natsSubjects = {
  endpoint: (c: ComponentIdentity, endpoint: string) => `${c.namespace}.${c.name}.${endpoint}`,
  instanceEndpoint: (c: ComponentIdentity, instanceId: string, endpoint: string) =>
    `${c.namespace}.${c.name}.${endpoint}.${instanceId}`,
  queueGroup: (c: ComponentIdentity) => `${c.namespace}.${c.name}`,
  cancel: (c: ComponentIdentity) => `${c.namespace}._cancel.${c.name}`,
  discovery: (namespace: string) => `${namespace}._discovery`,
  event: (namespace: string, topic: string) => `${namespace}._events.${topic}`,
  query: (namespace: string, topic: string) => `${namespace}._query.${topic}`,
  liveness: (namespace: string) => `${namespace}._alive`,
  /** Where the callers of the calls one serving process paces send their acknowledgements. */
  credit: (namespace: string, serverId: string) => `${namespace}._credit.${serverId}`,
};

/** A process saying it is alive (every process, callers included), or that it is leaving. */
export interface ProcessBeat {
  processId: string;
  leaving?: true;
}

/**
 * What an endpoint's stream sends over the wire: first who serves the call (and, when the call is
 * paced, the subject its acknowledgements go to: `stream-credit.ts`), then its items; an item too large
 * for one message comes as `part` frames instead (see `item-parts.ts`).
 */
export type WireFrame =
  | { kind: 'start'; instanceId: string; credit?: string }
  | { kind: 'item'; value: unknown; size?: number }
  | { kind: 'part'; data: string; last: boolean };

/**
 * Where a frame made to be sent keeps its JSON, made once (`itemFrames`, `constantFrame`): replies
 * send that text rather than serialise the frame again. A symbol key, which JSON.stringify skips, and a
 * property of the frame rather than an entry of a WeakMap, whose upkeep costs more than the JSON itself.
 */
export const FRAME_JSON = Symbol('threadline.frameJson');

/** A frame that may carry its own JSON. */
export type SerialisedFrame = WireFrame & { readonly [FRAME_JSON]?: string };

/**
 * A discovery message: an instance announcing itself (`up`), finishing its calls before it stops
 * (`draining`: alive, but takes no new calls), or gone (`leaving`); or a newcomer asking every
 * instance to announce itself now (`probe`).
 */
export type Heartbeat =
  | { state: 'up' | 'draining' | 'leaving'; address: string; instanceId: string; processId?: string }
  | { state: 'probe' };

/** A cancellation: stop the call with this id. */
export interface CancelMessage {
  callId: string;
}

/** A process-wide query, sent to every process; `from` tells the asker's own subscription to skip it. */
export interface QueryMessage {
  from: string;
  query: unknown;
}

/**
 * A process's reply to a query: who answers, for which instances (the asker stops waiting once every
 * instance it knows has answered), and the answer, absent when the process has none.
 */
export interface QueryReply {
  from: string;
  instances: string[];
  answer?: unknown;
}
