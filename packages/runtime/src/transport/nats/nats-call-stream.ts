import type { Observable } from 'rxjs';
import { DeadlineExceededError } from '@threadline/tracing';
import { AsyncQueue } from '../../async-queue.js';
import { EndpointError } from '../../endpoint.error.js';
import type { EndpointErrorData } from '../../endpoint.error.js';
import type { InstanceRegistry } from './instance-registry.js';
import { frameBytes } from './item-parts.js';
import type { ItemAssembler } from './item-parts.js';
import type { WireFrame } from './nats-subjects.js';
import { CreditReader } from './stream-credit.js';
import type { CreditLimits } from './stream-credit.js';

export interface CallStreamOptions {
  /** The call's replies, as frames (subscribing sends the call). */
  responses: Observable<WireFrame>;
  registry: InstanceRegistry;
  /**
   * The instance the call was sent to, when it named one: the registry dropping it fails the call
   * before any instance took it, as it fails a call that instance is serving.
   */
  instance?: string | undefined;
  /** How long to wait for an instance to take the call. */
  startTimeoutMs: number;
  where: Pick<EndpointErrorData, 'requestId' | 'component' | 'endpoint'>;
  /** Tells the serving instance to stop; called when the consumer stops before the stream ended. */
  cancel: () => void;
  /** The caller's request signal: when it aborts, the call is cancelled. */
  signal: AbortSignal | undefined;
  /**
   * Registers a listener for the loss of this process's NATS connection; returns its removal. Frames
   * sent while the connection is down are lost, so a call in flight then can only fail.
   */
  onConnectionLost: (listener: () => void) => () => void;
  /** Puts back together the items that arrive in parts. */
  assembler: ItemAssembler;
  /** The credit offered in the call's headers; undefined when the call offered none. */
  credit?: CreditLimits | undefined;
  /** Sends an acknowledgement (frames read in all) to the subject the serving instance named. */
  acknowledge?: (subject: string, read: number) => void;
  /** Told which instance took the call, when it says so. */
  onServingInstance?: ((instanceId: string) => void) | undefined;
}

/**
 * The client side of one call over NATS, as an async iterable of the endpoint's items. It never hangs
 * on a peer that is gone: no instance taking the call within `startTimeoutMs`, or the instance it was
 * sent to or is served by leaving the registry, ends it with a 503 EndpointError naming the request.
 */
export async function* natsCallStream(options: CallStreamOptions): AsyncGenerator<unknown> {
  const { where } = options;
  const queue = new AsyncQueue<Arrived>();
  /** Set when the serving instance paces the call: it then waits for acknowledgements. */
  let reader: CreditReader | undefined;
  /** Frames and bytes of the parts of the item being put together. */
  let partFrames = 0;
  let partBytes = 0;
  let servingInstance: string | undefined = options.instance;
  let completed = false;
  let started = false;
  const unavailable = (message: string, code: string) => new EndpointError({ ...where, message, status: 503, code });
  const startTimer = setTimeout(
    () =>
      queue.fail(
        unavailable(
          `No instance of ${where.component} took the call within ${options.startTimeoutMs} ms.`,
          'no_instance_answered',
        ),
      ),
    options.startTimeoutMs,
  );
  const stopWatching = options.registry.onGone((instanceId) => {
    if (instanceId === servingInstance) {
      const when = started ? 'while serving the call' : 'before taking the call';
      queue.fail(unavailable(`${where.component} instance ${instanceId} went away ${when}.`, 'instance_gone'));
    }
  });
  const stopWatchingBus = options.onConnectionLost(() =>
    queue.fail(unavailable('The connection to the message bus was lost during the call.', 'bus_lost')),
  );
  // Across processes the callee does not share the caller's signal: a cancelled request cancels its calls.
  // A deadline that passed says so (a 504), whoever notices it first.
  const onAbort = () =>
    queue.fail(
      options.signal?.reason instanceof DeadlineExceededError
        ? EndpointError.from(options.signal.reason, where)
        : new EndpointError({ ...where, message: 'The request was cancelled.', status: 499, code: 'cancelled' }),
    );
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const subscription = options.responses.subscribe({
    next: (frame) => {
      if (frame.kind === 'item') {
        const bytes = frameBytes(frame);
        reader?.received(1, bytes);
        queue.push({ value: frame.value, frames: 1, bytes });
      } else if (frame.kind === 'part') {
        try {
          partFrames++;
          partBytes += frameBytes(frame);
          reader?.received(1, frameBytes(frame));
          const item = options.assembler.add(frame);
          if (item !== undefined) {
            queue.push({ value: item.value, frames: partFrames, bytes: partBytes });
            partFrames = partBytes = 0;
          }
        } catch (failure) {
          queue.fail(EndpointError.from(failure, where));
        }
      } else {
        clearTimeout(startTimer);
        started = true;
        servingInstance = frame.instanceId;
        const { credit: subject } = frame;
        if (subject !== undefined && options.credit !== undefined && options.acknowledge !== undefined) {
          const acknowledge = options.acknowledge;
          reader = new CreditReader(options.credit, (read) => acknowledge(subject, read));
        }
        options.onServingInstance?.(frame.instanceId);
      }
    },
    error: (error: unknown) => queue.fail(fromWire(error, where)),
    complete: () => {
      completed = true;
      queue.end();
    },
  });
  try {
    for await (const arrived of queue) {
      yield arrived.value;
      // Asking for the next item is what says this one was read.
      reader?.consumed(arrived.frames, arrived.bytes);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    clearTimeout(startTimer);
    stopWatching();
    stopWatchingBus();
    subscription.unsubscribe();
    options.assembler.release();
    if (!completed) options.cancel();
  }
}

/** An item as it arrived: its value, and the frames and bytes pacing counts for it. */
interface Arrived {
  value: unknown;
  frames: number;
  bytes: number;
}

/** An error as it arrives from the wire (an EndpointError's JSON, or a transport failure) as an EndpointError. */
function fromWire(error: unknown, where: CallStreamOptions['where']): EndpointError {
  const data = error as Partial<EndpointErrorData> | undefined;
  if (data && typeof data.message === 'string' && typeof data.status === 'number' && typeof data.code === 'string') {
    return new EndpointError({ ...where, ...data } as EndpointErrorData);
  }
  const failure = EndpointError.from(error, where);
  // A failure of the transport itself (the connection lost, the client closed) means "unavailable".
  return failure.status === 500
    ? new EndpointError({ ...failure.toJSON(), status: 503, code: 'transport_error' })
    : failure;
}
