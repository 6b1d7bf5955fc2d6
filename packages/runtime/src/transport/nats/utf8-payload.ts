/**
 * `text` as the bytes of a NATS message. Given a string, nats.js encodes it with a TextEncoder, which
 * allocates a buffer of its own for every message; `Buffer.from` takes a small one from Node's shared
 * pool. nats.js copies the bytes into its outbound buffer before anything else can reuse that memory.
 */
export function utf8Payload(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
}
