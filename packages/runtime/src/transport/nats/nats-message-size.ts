/**
 * How big one NATS message may be, and how a larger one is cut. A NATS server refuses a message over
 * its `max_payload` (1 MiB by default), so a call's request or a stream item that serialises larger
 * travels in parts: a request is pulled by the serving side from the caller (see `request-upload.ts`),
 * a stream item is sent as consecutive `part` frames on the call's reply subject (see `item-parts.ts`).
 */

/** What NATS allows when the server's INFO has not said (its documented default). */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** Room left in each message for the headers (request id, trace context) and Nest's packet envelope. */
const ENVELOPE_BYTES = 16 * 1024;

/** The default hard cap on one reassembled message: far above any request body the service accepts. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** The server's `max_payload`, from the INFO it sent on connecting. */
export function maxPayloadOf(connection: { info?: { max_payload?: number } } | undefined): number {
  const announced = connection?.info?.max_payload;
  return typeof announced === 'number' && announced > 0 ? announced : DEFAULT_MAX_PAYLOAD;
}

/** The most bytes of serialised data one message carries, leaving room for its envelope. */
export function dataBytesPerMessage(maxPayload: number): number {
  // A server configured below the envelope still gets parts it can take, just many of them.
  return Math.max(1024, maxPayload - ENVELOPE_BYTES);
}

/** The failure of a message over the hard cap: a fault of the deployment (the cap is below what the service accepts), not of the input. */
export function tooLargeMessage(
  bytes: number,
  maxMessageBytes: number,
): { message: string; status: number; code: string } {
  return {
    message: `A message of ${bytes} bytes exceeds the transport's limit of ${maxMessageBytes} bytes per message (NatsOptions.maxMessageBytes).`,
    status: 500,
    code: 'message_too_large',
  };
}
