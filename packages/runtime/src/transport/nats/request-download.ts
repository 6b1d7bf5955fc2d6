import type { NatsConnection } from '@nats-io/transport-node';
import type { ByteBudget } from './byte-budget.js';
import { tooLargeMessage } from './nats-message-size.js';
import type { RequestParts } from './request-upload.js';

/** How long the caller has to answer for one part before the call fails. */
const PART_TIMEOUT_MS = 10_000;

/** Why a request sent in parts could not be taken: the fields of the EndpointError the caller gets. */
export class RequestDownloadError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'RequestDownloadError';
  }
}

export interface DownloadLimits {
  maxMessageBytes: number;
  budget: ByteBudget;
  signal: AbortSignal;
}

/**
 * Pulls a request sent in parts from the caller, one part at a time, and parses it. Refuses one over
 * the hard cap before fetching anything, and one the budget of bytes held across calls cannot take.
 */
export async function downloadRequest(
  connection: NatsConnection,
  parts: RequestParts,
  limits: DownloadLimits,
): Promise<unknown> {
  if (parts.bytes > limits.maxMessageBytes) {
    const { message, status, code } = tooLargeMessage(parts.bytes, limits.maxMessageBytes);
    throw new RequestDownloadError(message, status, code);
  }
  if (!limits.budget.tryReserve(parts.bytes)) {
    throw new RequestDownloadError(
      `The instance holds ${limits.budget.heldBytes} bytes of large requests already, its limit; retry later.`,
      503,
      'large_requests_at_capacity',
    );
  }
  try {
    const whole = Buffer.allocUnsafe(parts.bytes);
    let filled = 0;
    for (let index = 0; index < parts.parts; index++) {
      limits.signal.throwIfAborted();
      const reply = await connection.request(parts.inbox, String(index), { timeout: PART_TIMEOUT_MS });
      const chunk = reply.data;
      if (chunk.byteLength === 0 || filled + chunk.byteLength > parts.bytes) {
        throw new RequestDownloadError(
          `Part ${index} of a request sent in parts did not match its announced size.`,
          500,
          'request_parts_mismatch',
        );
      }
      whole.set(chunk, filled);
      filled += chunk.byteLength;
    }
    if (filled !== parts.bytes)
      throw new RequestDownloadError(
        `A request sent in parts arrived with ${filled} of its ${parts.bytes} bytes.`,
        500,
        'request_parts_mismatch',
      );
    return JSON.parse(whole.toString('utf8')) as unknown;
  } finally {
    limits.budget.release(parts.bytes);
  }
}
