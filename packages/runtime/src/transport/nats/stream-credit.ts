/**
 * Pacing of a streamed call by its caller's acknowledgements (credit-based flow control). The caller
 * offers, in its request packet's `credit`, how far the callee may run ahead of what it has read: at
 * most `frames` frames and `bytes` bytes sent and not yet acknowledged. The callee names in its start
 * frame where acknowledgements go; the caller acknowledges in batches as it reads. A callee left waiting
 * for credit with no acknowledgement for a while has a caller that stopped reading: it stops the call.
 *
 * A peer that knows nothing of this works as before: a callee offered no credit sends freely, and a
 * caller that gets no acknowledgement subject in the start frame sends no acknowledgements.
 */

/** How far a callee may run ahead of what its caller has read. */
export interface CreditLimits {
  frames: number;
  bytes: number;
}

export const DEFAULT_CREDIT: CreditLimits = { frames: 256, bytes: 4 * 1024 * 1024 };

/** How long a callee waits for credit, hearing nothing, before it takes its caller for stuck. */
export const DEFAULT_STALL_MS = 5000;

/** Frames this large carry their size, for the caller to count the bytes it has read. */
export const SIZED_FRAME_BYTES = 4096;

/** An acknowledgement: the caller has read this many frames of the call, in all. */
export interface CreditMessage {
  callId: string;
  read: number;
}

export function formatCredit(limits: CreditLimits): string {
  return `${limits.frames} ${limits.bytes}`;
}

/** The last offer parsed: a process's callers mostly offer one and the same credit. */
let lastParsed: { header: string; limits: CreditLimits | undefined } | undefined;

/** The limits a caller offers (`<frames> <bytes>`), or undefined when absent or not understood (no pacing). */
export function parseCredit(header: unknown): CreditLimits | undefined {
  if (typeof header !== 'string') return undefined;
  if (lastParsed?.header === header) return lastParsed.limits;
  const limits = parseLimits(header);
  lastParsed = { header, limits };
  return limits;
}

function parseLimits(header: string): CreditLimits | undefined {
  const fields = header.split(' ');
  if (fields.length !== 2) return undefined;
  const [frames, bytes] = fields.map(Number);
  if (!Number.isSafeInteger(frames) || !Number.isSafeInteger(bytes) || frames! < 2 || bytes! < 1) return undefined;
  return { frames: frames!, bytes: bytes! };
}

/** Why a callee stopped a call: its caller read nothing for too long while the callee waited on it. */
export class StuckReaderError extends Error {
  constructor(readonly stallMs: number) {
    super(`The caller read nothing of the stream for ${stallMs} ms.`);
    this.name = 'StuckReaderError';
  }
}

/**
 * The callee's side: how many frames and bytes are out unacknowledged, and a wait for room. A frame may
 * go while fewer than `frames` frames and `bytes` bytes are out, whatever its own size (so the bytes out
 * stay under the limit plus one message): a callee waits only once the caller has a full window to
 * read, which is what lets the caller acknowledge only then (`CreditReader`).
 */
export class CreditWindow {
  private sentFrames = 0;
  private readFrames = 0;
  private outBytes = 0;
  /**
   * The frames out that count bytes (large items and their parts), by number, oldest first: most frames
   * count by number alone, and keep no entry here.
   */
  private readonly sized: Array<{ frame: number; bytes: number }> = [];
  private waiting: { resolve: () => void; reject: (error: unknown) => void } | undefined;
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: CreditLimits,
    private readonly stallMs: number,
  ) {}

  /** Whether a frame may go now. */
  hasRoom(): boolean {
    return this.sentFrames - this.readFrames < this.limits.frames && this.outBytes < this.limits.bytes;
  }

  /** Counts a frame sent. */
  sent(bytes: number): void {
    this.sentFrames++;
    if (bytes === 0) return;
    this.outBytes += bytes;
    this.sized.push({ frame: this.sentFrames, bytes });
  }

  /** The caller has read `read` frames in all (acknowledgements are cumulative: a late one changes nothing). */
  acknowledge(read: number): void {
    const upTo = Math.min(read, this.sentFrames);
    if (upTo <= this.readFrames) return;
    while (this.sized.length > 0 && this.sized[0]!.frame <= upTo) this.outBytes -= this.sized.shift()!.bytes;
    this.readFrames = upTo;
    const waiting = this.waiting;
    if (waiting === undefined) return;
    if (this.hasRoom()) {
      this.settle();
      waiting.resolve();
    } else this.armStall();
  }

  /**
   * Resolves once a frame may go. Rejects with a StuckReaderError when `stallMs` pass with no
   * acknowledgement, or with the signal's reason when it aborts.
   */
  room(signal: AbortSignal): Promise<void> {
    if (this.hasRoom()) return Promise.resolve();
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.settle();
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting = {
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.armStall();
    });
  }

  /** Frames sent and not yet acknowledged. */
  get outstanding(): number {
    return this.sentFrames - this.readFrames;
  }

  close(): void {
    this.settle();
  }

  private armStall(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => {
      const waiting = this.waiting;
      this.settle();
      waiting?.reject(new StuckReaderError(this.stallMs));
    }, this.stallMs);
  }

  private settle(): void {
    clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    this.waiting = undefined;
  }
}

/**
 * The caller's side: counts what arrives and what the consumer reads, and says when to acknowledge.
 * Nothing while less than half the window has arrived unacknowledged: the callee cannot be waiting then,
 * so a short stream costs no acknowledgement at all. Beyond, once a quarter of the window (frames or
 * bytes) is read since the last acknowledgement, so that the callee still has room while it travels, or
 * when anything read is unacknowledged for `flushMs` (a slow reader still shows progress).
 */
export class CreditReader {
  private arrived = 0;
  private arrivedBytes = 0;
  private read = 0;
  private readBytes = 0;
  private acked = 0;
  private ackedBytes = 0;
  private lastAck: number;

  constructor(
    private readonly limits: CreditLimits,
    private readonly acknowledge: (read: number) => void,
    private readonly flushMs = 250,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.lastAck = now();
  }

  /** An item came, in `frames` frames of `bytes` bytes as pacing counts them. */
  received(frames: number, bytes: number): void {
    this.arrived += frames;
    this.arrivedBytes += bytes;
  }

  /** The consumer took an item that came in `frames` frames of `bytes` bytes. */
  consumed(frames: number, bytes: number): void {
    this.read += frames;
    this.readBytes += bytes;
    const { frames: windowFrames, bytes: windowBytes } = this.limits;
    if (this.arrived - this.acked < windowFrames / 2 && this.arrivedBytes - this.ackedBytes < windowBytes / 2) return;
    if (
      this.read - this.acked >= windowFrames / 4 ||
      this.readBytes - this.ackedBytes >= windowBytes / 4 ||
      this.now() - this.lastAck >= this.flushMs
    ) {
      this.acked = this.read;
      this.ackedBytes = this.readBytes;
      this.lastAck = this.now();
      this.acknowledge(this.read);
    }
  }
}
