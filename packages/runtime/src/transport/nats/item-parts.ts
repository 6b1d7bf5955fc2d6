import type { ByteBudget } from './byte-budget.js';
import { tooLargeMessage } from './nats-message-size.js';
import { FRAME_JSON } from './nats-subjects.js';
import type { SerialisedFrame, WireFrame } from './nats-subjects.js';
import { SIZED_FRAME_BYTES } from './stream-credit.js';

/**
 * The frames of one stream item: the item itself when its JSON fits `dataBytes`, else its JSON's UTF-8
 * bytes in base64 `part` frames (base64 so that a part's size on the wire is known: JSON escaping could
 * grow a slice of text six-fold), the last one marked. The reply subject keeps them in order. A large
 * item says its size, which pacing counts (`frameBytes`). An item frame carries its JSON (`FRAME_JSON`).
 */
export function itemFrames(value: unknown, dataBytes: number): SerialisedFrame[] {
  const json = JSON.stringify(value);
  // Every character of a JSON text is at most 3 UTF-8 bytes: most items are decided without encoding.
  if (json === undefined || json.length * 3 <= dataBytes || Buffer.byteLength(json) <= dataBytes) {
    if (json === undefined) return [{ kind: 'item', value, [FRAME_JSON]: '{"kind":"item"}' }];
    if (json.length < SIZED_FRAME_BYTES)
      return [{ kind: 'item', value, [FRAME_JSON]: `{"kind":"item","value":${json}}` }];
    const size = json.length;
    return [{ kind: 'item', value, size, [FRAME_JSON]: `{"kind":"item","value":${json},"size":${size}}` }];
  }
  const bytes = Buffer.from(json, 'utf8');
  const partBytes = Math.floor((dataBytes * 3) / 4);
  const frames: WireFrame[] = [];
  for (let start = 0; start < bytes.byteLength; start += partBytes) {
    const end = Math.min(start + partBytes, bytes.byteLength);
    frames.push({ kind: 'part', data: bytes.subarray(start, end).toString('base64'), last: end === bytes.byteLength });
  }
  return frames;
}

/**
 * Why the parts of an item could not be put together: its message, status and code become the fields of
 * the EndpointError the caller gets, once the call stream adds which call it was.
 */
export class ItemAssemblyFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ItemAssemblyFailure';
  }
}

/**
 * Puts an item sent in `part` frames back together, within the hard cap per message and the budget of
 * bytes held across calls. One per call: a call's items arrive one after another.
 */
export class ItemAssembler {
  private parts: Buffer[] = [];
  private held = 0;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly budget: ByteBudget,
  ) {}

  /** Adds a part; returns the item once its last part is in. Throws an ItemAssemblyFailure. */
  add(frame: Extract<WireFrame, { kind: 'part' }>): { value: unknown } | undefined {
    const part = Buffer.from(frame.data, 'base64');
    if (this.held + part.byteLength > this.maxMessageBytes) {
      this.release();
      const { message, status, code } = tooLargeMessage(this.held + part.byteLength, this.maxMessageBytes);
      throw new ItemAssemblyFailure(message, status, code);
    }
    if (!this.budget.tryReserve(part.byteLength)) {
      this.release();
      throw new ItemAssemblyFailure(
        'The caller holds too many bytes of large stream items at once; retry later.',
        503,
        'large_items_at_capacity',
      );
    }
    this.parts.push(part);
    this.held += part.byteLength;
    if (!frame.last) return undefined;
    const json = Buffer.concat(this.parts).toString('utf8');
    this.release();
    return { value: JSON.parse(json) as unknown };
  }

  /** Drops what is held (the call ended or failed mid-item). */
  release(): void {
    this.budget.release(this.held);
    this.parts = [];
    this.held = 0;
  }
}

/** The bytes of a frame as pacing counts them on both sides: small items count by number alone. */
export function frameBytes(frame: WireFrame): number {
  return frame.kind === 'part' ? frame.data.length : frame.kind === 'item' ? (frame.size ?? 0) : 0;
}
