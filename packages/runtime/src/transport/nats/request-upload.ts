import { createInbox } from '@nats-io/transport-node';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';

/**
 * A request too large for one message stays with its caller, and its packet says where instead
 * (`parts`: `<inbox> <bytes> <parts>`). The serving instance (whichever of the queue group took the
 * call) pulls the parts from the caller's inbox, one request each; the caller holds the serialised
 * request only while the call runs.
 */

/** Where and how big a request sent in parts is. */
export interface RequestParts {
  inbox: string;
  bytes: number;
  parts: number;
}

/** An offered request: where its parts wait (the packet's `parts`), and the function that stops serving them. */
export interface RequestUpload {
  header: string;
  close(): void;
}

/** Serves `data` in parts of `partBytes` on a fresh inbox: a request carrying a part's index gets that part. */
export function offerRequest(connection: NatsConnection, data: Uint8Array, partBytes: number): RequestUpload {
  const inbox = createInbox();
  const parts = Math.ceil(data.byteLength / partBytes);
  const subscription: Subscription = connection.subscribe(inbox, {
    callback: (_error, message) => {
      const index = Number(message.string());
      const valid = Number.isInteger(index) && index >= 0 && index < parts;
      message.respond(valid ? data.subarray(index * partBytes, (index + 1) * partBytes) : new Uint8Array(0));
    },
  });
  return { header: `${inbox} ${data.byteLength} ${parts}`, close: () => subscription.unsubscribe() };
}

/** A packet's `parts` as data, or undefined when it is not one this transport wrote. */
export function parseRequestParts(header: string | undefined): RequestParts | undefined {
  if (header === undefined) return undefined;
  const [inbox, bytes, parts] = header.split(' ');
  const size = Number(bytes);
  const count = Number(parts);
  if (!inbox || !Number.isSafeInteger(size) || size < 0 || !Number.isSafeInteger(count) || count < 1) return undefined;
  return { inbox, bytes: size, parts: count };
}
