import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { FinishedSpan, SpanEvent } from '../spans/span-types.js';

/**
 * Threadline's finished spans as an OTLP `ExportTraceServiceRequest` in protobuf, the bytes the SDK's
 * `ProtobufTraceSerializer` writes for the same spans, field for field. That serializer reads a span
 * through the `ReadableSpan` getters, twice (it sizes the message, then writes it), and makes its times,
 * contexts and ids as it goes. Our spans have one flat shape, so this reads their fields directly and
 * writes each message once, front to back: the part of the export that runs for every span, on the
 * request path's thread. bench:observability measures what it saves.
 *
 * `undefined` when an attribute holds a value no Threadline span makes (an array, bytes, an object): the
 * caller then hands the spans to the SDK's serializer.
 */
export function encodeExportTraceRequest(
  spans: readonly FinishedSpan[],
  resource: Resource,
  scope: InstrumentationScope,
): Uint8Array | undefined {
  const out = new ProtobufOut(spans.length * BYTES_PER_SPAN_GUESS + 1024);
  const resourceSpans = out.tag(FIELD_1_LEN).begin(3);
  const resourceMessage = out.tag(FIELD_1_LEN).begin(1);
  out.attributes(resource.attributes, FIELD_1_LEN, undefined);
  out.tag(FIELD_2_VARINT).varint(0);
  out.end(resourceMessage);
  const scopeSpans = out.tag(FIELD_2_LEN).begin(3);
  const scopeMessage = out.tag(FIELD_1_LEN).begin(1);
  out.tag(FIELD_1_LEN).text(scope.name);
  if (scope.version) out.tag(FIELD_2_LEN).text(scope.version);
  out.end(scopeMessage);
  for (const span of spans) {
    const spanMessage = out.tag(FIELD_2_LEN).begin(2);
    out.span(span);
    out.end(spanMessage);
  }
  if (scope.schemaUrl) out.tag(FIELD_3_LEN).text(scope.schemaUrl);
  out.end(scopeSpans);
  if (resource.schemaUrl) out.tag(FIELD_3_LEN).text(resource.schemaUrl);
  out.end(resourceSpans);
  return out.unencodable ? undefined : out.written();
}

/** Room to start with, per span: most pipeline spans take 250 to 400 bytes; the buffer grows when it must. */
const BYTES_PER_SPAN_GUESS = 400;

// Tags: a field's number and wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
const FIELD_1_FIXED64 = (1 << 3) | 1;
const FIELD_1_LEN = (1 << 3) | 2;
const FIELD_2_VARINT = (2 << 3) | 0;
const FIELD_2_LEN = (2 << 3) | 2;
const FIELD_3_VARINT = (3 << 3) | 0;
const FIELD_3_LEN = (3 << 3) | 2;
const FIELD_4_DOUBLE = (4 << 3) | 1;
const FIELD_4_VARINT = (4 << 3) | 0;
const FIELD_4_LEN = (4 << 3) | 2;
const FIELD_5_LEN = (5 << 3) | 2;
const FIELD_6_VARINT = (6 << 3) | 0;
const FIELD_7_FIXED64 = (7 << 3) | 1;
const FIELD_8_FIXED64 = (8 << 3) | 1;
const FIELD_9_LEN = (9 << 3) | 2;
const FIELD_10_VARINT = (10 << 3) | 0;
const FIELD_11_LEN = (11 << 3) | 2;
const FIELD_12_VARINT = (12 << 3) | 0;
const FIELD_14_VARINT = (14 << 3) | 0;
const FIELD_15_LEN = (15 << 3) | 2;
/** Field 16 (the span's flags, fixed32): its tag takes two bytes. */
const FIELD_16_FIXED32 = [(16 << 3) | 5 | 0x80, 1] as const;

/** OTLP's `SpanKind` and `StatusCode` numbers. */
const KIND_NUMBERS = { internal: 1, server: 2, client: 3 } as const;
const STATUS_NUMBERS = { unset: 0, ok: 1, error: 2 } as const;
/**
 * A span's flags: the W3C trace flags (only sampled spans are exported) and "whether the parent is
 * remote is known", which the SDK's serializer sets for every span; `REMOTE_PARENT` is "it is remote".
 */
const SPAN_FLAGS = 0x01 | 0x100;
const REMOTE_PARENT = 0x200;

const TWO_POW_32 = 0x1_0000_0000;
/** Integers in this range go out as `int_value`, the others as `double_value`, as the SDK decides. */
const INT64_MIN = -(2 ** 63);
const INT64_LIMIT = 2 ** 63;

const HEX_VALUES = new Uint8Array(128);
for (let digit = 0; digit < 16; digit++) {
  HEX_VALUES['0123456789abcdef'.charCodeAt(digit)] = digit;
  HEX_VALUES['0123456789ABCDEF'.charCodeAt(digit)] = digit;
}

const textEncoder = new TextEncoder();

/** The longest string value whose attribute `KeyValueCache` keeps. */
const CACHED_VALUE_LENGTH = 128;
/** How many attributes `KeyValueCache` keeps before it starts again. */
const CACHED_ATTRIBUTES = 2048;

/**
 * String attributes as written once, after their tag (length and message), to be copied where they
 * come again: a pipeline's spans repeat their attributes (the keys always, most values in every request,
 * a request id on each of its spans), and writing a string byte by byte is most of what encoding a span
 * costs. Emptied when full, so that values seen once (each request's id) cannot crowd out the others
 * for long.
 */
class KeyValueCache {
  private readonly byKey = new Map<string, Map<string, Uint8Array>>();
  private size = 0;

  get(key: string, value: string): Uint8Array | undefined {
    return this.byKey.get(key)?.get(value);
  }

  set(key: string, value: string, written: Uint8Array): void {
    if (this.size >= CACHED_ATTRIBUTES) {
      this.byKey.clear();
      this.size = 0;
    }
    let values = this.byKey.get(key);
    if (values === undefined) this.byKey.set(key, (values = new Map<string, Uint8Array>()));
    values.set(value, written);
    this.size++;
  }
}

const keyValues = new KeyValueCache();

/**
 * Written once, copied where they come again, each map emptied when it holds `CACHED_ATTRIBUTES`:
 * - span and event names (length and text): a pipeline's spans take theirs from a few components' endpoints;
 * - attribute keys whose value is not kept by `KeyValueCache` (a number, a boolean), with what comes
 *   between the key and the value (the key's field and the value's tag);
 * - trace ids (length and bytes): a batch holds the spans of many requests at once, interleaved, and
 *   every span of a request has its request's.
 */
const names = new Map<string, Uint8Array>();
const keyHeads = new Map<string, Uint8Array>();
const traceIds = new Map<string, Uint8Array>();

/** Keeps `written` for `key` in `cache`, emptying a full one first. */
function keep(cache: Map<string, Uint8Array>, key: string, written: Uint8Array): void {
  if (cache.size >= CACHED_ATTRIBUTES) cache.clear();
  cache.set(key, written);
}

function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x20_0000 ? 3 : value < 0x1000_0000 ? 4 : 5;
}

function isInt64(value: number): boolean {
  return Number.isInteger(value) && value >= INT64_MIN && value < INT64_LIMIT;
}

/** An integer's 64 bits (two's complement for a negative one), as the low and high 32. */
function int64Words(value: number): [number, number] {
  if (value >= 0) return [value >>> 0, (value / TWO_POW_32) >>> 0];
  const magnitude = Math.abs(value);
  let low = ~(magnitude >>> 0) >>> 0;
  let high = ~((magnitude / TWO_POW_32) >>> 0) >>> 0;
  low = (low + 1) >>> 0;
  if (low === 0) high = (high + 1) >>> 0;
  return [low, high];
}

/**
 * The request's bytes, written front to back in one pass. A message's length comes before the message,
 * so `begin` leaves the number of bytes its length usually takes, and `end` writes the length there
 * once the message is written, moving the message when the length took another number of bytes (a
 * protobuf length is always written in as few bytes as it can be, as the SDK writes it).
 */
class ProtobufOut {
  private bytes: Uint8Array;
  private view: DataView;
  private pos = 0;
  unencodable = false;

  constructor(capacity: number) {
    // Not zeroed: every byte handed out is written first.
    this.bytes = Buffer.allocUnsafeSlow(capacity);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  /** What was written. */
  written(): Uint8Array {
    return this.bytes.subarray(0, this.pos);
  }

  /** Makes room for `more` bytes. */
  private room(more: number): void {
    if (this.pos + more <= this.bytes.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.bytes.length * 2, this.pos + more));
    grown.set(this.bytes.subarray(0, this.pos));
    this.bytes = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.byteLength);
  }

  tag(tag: number): this {
    this.room(16);
    this.bytes[this.pos++] = tag;
    return this;
  }

  varint(value: number): this {
    const bytes = this.bytes;
    let pos = this.pos;
    while (value > 0x7f) {
      bytes[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    bytes[pos++] = value;
    this.pos = pos;
    return this;
  }

  int64(value: number): this {
    if (value >= 0 && value < TWO_POW_32) return this.varint(value);
    let [low, high] = int64Words(value);
    while (high > 0 || low > 0x7f) {
      this.bytes[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    this.bytes[this.pos++] = low;
    return this;
  }

  /**
   * Starts a length-delimited message whose length is expected to take `lengthBytes` bytes; returns
   * what `end` needs. The tag is written before.
   */
  begin(lengthBytes: number): number {
    this.room(lengthBytes);
    const start = this.pos;
    this.pos += lengthBytes;
    return start * 8 + lengthBytes;
  }

  /** Ends the message `begin` started: writes its length, moving the message if the length takes other room. */
  end(begun: number): void {
    const reserved = begun & 7;
    const start = (begun - reserved) / 8;
    const length = this.pos - start - reserved;
    const needed = varintSize(length);
    if (needed !== reserved) {
      this.room(needed - reserved);
      this.bytes.copyWithin(start + needed, start + reserved, this.pos);
      this.pos += needed - reserved;
    }
    const end = this.pos;
    this.pos = start;
    this.varint(length);
    this.pos = end;
  }

  /** A copy of what was written from `start` on, to keep beyond this request (its buffer is a Buffer, whose `slice` is a view). */
  private copy(start: number): Uint8Array {
    return new Uint8Array(this.bytes.subarray(start, this.pos));
  }

  /** `written` as it is. */
  raw(written: Uint8Array): this {
    this.room(written.length);
    this.bytes.set(written, this.pos);
    this.pos += written.length;
    return this;
  }

  /** A span's or an event's name, as `text` writes it, copied when it was written before. */
  name(name: string): this {
    const written = names.get(name);
    if (written !== undefined) return this.raw(written);
    const start = this.pos;
    this.text(name);
    if (name.length <= CACHED_VALUE_LENGTH) keep(names, name, this.copy(start));
    return this;
  }

  /** A trace id, as `hexBytes` writes it, copied when it was written before. */
  traceId(traceId: string): this {
    const written = traceIds.get(traceId);
    if (written !== undefined) return this.raw(written);
    const start = this.pos;
    this.hexBytes(traceId);
    keep(traceIds, traceId, this.copy(start));
    return this;
  }

  /** `text` in UTF-8, after its length. */
  text(text: string): this {
    const length = text.length;
    this.room(length * 3 + 5);
    const bytes = this.bytes;
    const lengthBytes = varintSize(length);
    const start = this.pos + lengthBytes;
    let pos = start;
    for (let i = 0; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) {
        // Outside ASCII: the encoder's UTF-8 (a lone surrogate as U+FFFD, as the SDK's serializer has it).
        pos = start + textEncoder.encodeInto(text, bytes.subarray(start)).written;
        break;
      }
      bytes[pos++] = code;
    }
    const written = pos - start;
    if (varintSize(written) !== lengthBytes) {
      this.bytes.copyWithin(start + varintSize(written) - lengthBytes, start, pos);
    }
    this.varint(written);
    this.pos += written;
    return this;
  }

  /** Lower- or upper-case hex digits as the bytes they spell. */
  hexBytes(hex: string): this {
    const length = hex.length;
    this.room(length);
    this.varint(length >> 1);
    const bytes = this.bytes;
    let pos = this.pos;
    for (let i = 0; i < length; i += 2) {
      bytes[pos++] = (HEX_VALUES[hex.charCodeAt(i)]! << 4) | HEX_VALUES[hex.charCodeAt(i + 1)]!;
    }
    this.pos = pos;
    return this;
  }

  /**
   * Milliseconds since the epoch as fixed64 nanoseconds, rounded as the SDK's `millisToHrTime` rounds
   * them; the seconds are split so that no product passes 2^53.
   */
  epochNanos(millis: number): this {
    const seconds = Math.trunc(millis / 1000);
    const nanos = Math.round((millis % 1000) * 1e6);
    const fromLow16 = (seconds & 0xffff) * 1e9;
    const fromHigh = ((seconds / 0x1_0000) >>> 0) * 1e9;
    const low = (fromLow16 >>> 0) + (((fromHigh & 0xffff) * 0x1_0000) >>> 0) + nanos;
    const high = Math.floor(fromLow16 / TWO_POW_32) + ((fromHigh / 0x1_0000) >>> 0) + Math.floor(low / TWO_POW_32);
    this.view.setUint32(this.pos, low >>> 0, true);
    this.view.setUint32(this.pos + 4, high >>> 0, true);
    this.pos += 8;
    return this;
  }

  span(span: FinishedSpan): void {
    this.tag(FIELD_1_LEN).traceId(span.traceId);
    this.tag(FIELD_2_LEN).hexBytes(span.spanId);
    if (span.traceState !== undefined) this.tag(FIELD_3_LEN).text(span.traceState);
    if (span.parentSpanId !== undefined) this.tag(FIELD_4_LEN).hexBytes(span.parentSpanId);
    this.tag(FIELD_5_LEN).name(span.name);
    this.tag(FIELD_6_VARINT).varint(KIND_NUMBERS[span.kind]);
    this.tag(FIELD_7_FIXED64).epochNanos(span.startTime);
    this.tag(FIELD_8_FIXED64).epochNanos(span.endTime);
    this.attributes(span.attributes, FIELD_9_LEN, span.requestId);
    this.tag(FIELD_10_VARINT).varint(0);
    for (const event of span.events) {
      const eventMessage = this.tag(FIELD_11_LEN).begin(1);
      this.event(event);
      this.end(eventMessage);
    }
    this.tag(FIELD_12_VARINT).varint(0);
    this.tag(FIELD_14_VARINT).varint(0);
    const status = this.tag(FIELD_15_LEN).begin(1);
    if (span.statusMessage) this.tag(FIELD_2_LEN).text(span.statusMessage);
    this.tag(FIELD_3_VARINT).varint(STATUS_NUMBERS[span.status]);
    this.end(status);
    this.tag(FIELD_16_FIXED32[0]);
    this.bytes[this.pos++] = FIELD_16_FIXED32[1];
    this.view.setUint32(this.pos, span.parentIsRemote === true ? SPAN_FLAGS | REMOTE_PARENT : SPAN_FLAGS, true);
    this.pos += 4;
  }

  event(event: SpanEvent): void {
    this.tag(FIELD_1_FIXED64).epochNanos(event.time);
    this.tag(FIELD_2_LEN).name(event.name);
    if (event.attributes !== undefined) this.attributes(event.attributes, FIELD_3_LEN, undefined);
    this.tag(FIELD_4_VARINT).varint(0);
  }

  /**
   * `attributes` as repeated `KeyValue` fields of number `tag`. For a span, `requestId` is the value of
   * `x_request_id`, there even if something removed it (last, then), as the span's `attributes` getter
   * has it for the SDK.
   */
  attributes(attributes: Readonly<Record<string, unknown>>, tag: number, requestId: string | undefined): void {
    let hasRequestId = false;
    for (const key in attributes) {
      if (requestId !== undefined && key === 'x_request_id') {
        hasRequestId = true;
        this.keyValue(tag, key, requestId);
      } else this.keyValue(tag, key, attributes[key]);
    }
    if (requestId !== undefined && !hasRequestId) this.keyValue(tag, 'x_request_id', requestId);
  }

  keyValue(tag: number, key: string, value: unknown): void {
    const cacheable = typeof value === 'string' && value.length <= CACHED_VALUE_LENGTH;
    if (cacheable) {
      const written = keyValues.get(key, value);
      if (written !== undefined) {
        this.tag(tag).raw(written);
        return;
      }
    }
    const keyValue = this.tag(tag).begin(1);
    const head = keyHeads.get(key);
    if (head !== undefined) this.raw(head);
    else {
      const start = this.pos;
      this.tag(FIELD_1_LEN).text(key).tag(FIELD_2_LEN);
      if (key.length <= CACHED_VALUE_LENGTH) keep(keyHeads, key, this.copy(start));
    }
    const anyValue = this.begin(1);
    switch (typeof value) {
      case 'string':
        this.tag(FIELD_1_LEN).text(value);
        break;
      case 'boolean':
        this.tag(FIELD_2_VARINT).varint(value ? 1 : 0);
        break;
      case 'number':
        if (isInt64(value)) this.tag(FIELD_3_VARINT).int64(value);
        else {
          this.tag(FIELD_4_DOUBLE);
          this.view.setFloat64(this.pos, value, true);
          this.pos += 8;
        }
        break;
      default:
        this.unencodable = true;
    }
    this.end(anyValue);
    this.end(keyValue);
    // A copy: the cache outlives this request's buffer.
    if (cacheable) keyValues.set(key, value, this.copy((keyValue - (keyValue & 7)) / 8));
  }
}
