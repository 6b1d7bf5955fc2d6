import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { FinishedSpan, SpanAttributes, SpanEvent } from '../spans/span-types.js';

/**
 * Threadline's finished spans as an OTLP `ExportTraceServiceRequest` in protobuf, the bytes the SDK's
 * `ProtobufTraceSerializer` writes for the same spans, field for field. That serializer reads a span
 * through the `ReadableSpan` getters, twice (it sizes the message, then writes it), and makes its times,
 * contexts and ids as it goes. Our spans have one flat shape, so this reads their fields directly, sizes
 * every message once and writes it once: the part of the export that runs for every span, on the
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
  const sizes = new SizeList();
  const resourceSize = attributesSize(resource.attributes, sizes) + 2;
  let scopeSize = fieldSize(sizes.text(scope.name));
  if (scope.version) scopeSize += fieldSize(sizes.text(scope.version));
  let scopeSpansSize = fieldSize(scopeSize);
  for (const span of spans) scopeSpansSize += fieldSize(spanSize(span, sizes));
  if (scope.schemaUrl) scopeSpansSize += fieldSize(sizes.text(scope.schemaUrl));
  let resourceSpansSize = fieldSize(resourceSize) + fieldSize(scopeSpansSize);
  if (resource.schemaUrl) resourceSpansSize += fieldSize(sizes.text(resource.schemaUrl));
  if (sizes.unencodable) return undefined;

  const out = new ProtobufOut(fieldSize(resourceSpansSize), sizes);
  out.tag(FIELD_1_LEN).varint(resourceSpansSize);
  out.tag(FIELD_1_LEN).varint(resourceSize);
  out.attributes(resource.attributes, FIELD_1_LEN);
  out.tag(FIELD_2_VARINT).varint(0);
  out.tag(FIELD_2_LEN).varint(scopeSpansSize);
  out.tag(FIELD_1_LEN).varint(scopeSize);
  out.tag(FIELD_1_LEN).text();
  if (scope.version) out.tag(FIELD_2_LEN).text();
  for (const span of spans) out.tag(FIELD_2_LEN).span(span);
  if (scope.schemaUrl) out.tag(FIELD_3_LEN).text();
  if (resource.schemaUrl) out.tag(FIELD_3_LEN).text();
  return out.bytes;
}

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
 * remote is known", which the SDK's serializer sets for every span (and leaves "remote" clear for ours).
 */
const SPAN_FLAGS = 0x01 | 0x100;

const TRACE_ID_BYTES = 16;
const SPAN_ID_BYTES = 8;
const TWO_POW_32 = 0x1_0000_0000;
/** Integers in this range go out as `int_value`, the others as `double_value`, as the SDK decides. */
const INT64_MIN = -(2 ** 63);
const INT64_LIMIT = 2 ** 63;

/**
 * What the sizing pass works out, in the order the writing pass needs it: sizes (a message's size comes
 * before the sizes of what it holds, so the sizing pass reserves its place and fills it in once known)
 * and the UTF-8 of each text. A text met again in the same request (attribute names, a request's id on
 * each of its spans) is encoded once.
 */
class SizeList {
  private readonly values: number[] = [];
  private readonly texts: Uint8Array[] = [];
  private readonly encoded = new Map<string, Uint8Array>();
  private next = 0;
  private nextText = 0;
  unencodable = false;

  push(value: number): number {
    this.values.push(value);
    return value;
  }

  reserve(): number {
    return this.values.push(0) - 1;
  }

  fill(place: number, value: number): number {
    this.values[place] = value;
    return value;
  }

  take(): number {
    return this.values[this.next++]!;
  }

  /** Adds `text`'s UTF-8 for the writing pass; returns its length. */
  text(text: string): number {
    let bytes = this.encoded.get(text);
    if (bytes === undefined) {
      bytes = textEncoder.encode(text);
      this.encoded.set(text, bytes);
    }
    this.texts.push(bytes);
    return bytes.length;
  }

  takeText(): Uint8Array {
    return this.texts[this.nextText++]!;
  }
}

function spanSize(span: FinishedSpan, sizes: SizeList): number {
  const place = sizes.reserve();
  const nameLength = sizes.text(span.name);
  let size = fieldSize(TRACE_ID_BYTES) + fieldSize(SPAN_ID_BYTES) + fieldSize(nameLength);
  if (span.parentSpanId !== undefined) size += fieldSize(SPAN_ID_BYTES);
  size += 2 + 9 + 9; // kind, start and end times
  size += attributesSize(span.attributes, sizes, span.requestId);
  for (const event of span.events) size += fieldSize(eventSize(event, sizes));
  size += 2 + 2 + 2; // dropped attributes, events and links: none
  const statusPlace = sizes.reserve();
  let statusSize = 2;
  if (span.statusMessage) statusSize += fieldSize(sizes.text(span.statusMessage));
  size += fieldSize(sizes.fill(statusPlace, statusSize));
  size += 2 + 4; // flags
  return sizes.fill(place, size);
}

function eventSize(event: SpanEvent, sizes: SizeList): number {
  const place = sizes.reserve();
  let size = 9 + fieldSize(sizes.text(event.name)) + 2;
  if (event.attributes !== undefined) size += attributesSize(event.attributes, sizes);
  return sizes.fill(place, size);
}

/**
 * Calls `visit` with each attribute of `attributes` in order. For a span, `requestId` is the value of
 * `x_request_id`, there even if something removed it (last, then), as the span's `attributes` getter has
 * it for the SDK. `context` is handed on so that the visitors need no closure per call.
 */
function forEachAttribute<C>(
  attributes: Readonly<Record<string, unknown>>,
  requestId: string | undefined,
  context: C,
  visit: (context: C, key: string, value: unknown) => void,
): void {
  let hasRequestId = false;
  for (const key of Object.keys(attributes)) {
    if (requestId !== undefined && key === 'x_request_id') {
      hasRequestId = true;
      visit(context, key, requestId);
    } else visit(context, key, attributes[key]);
  }
  if (requestId !== undefined && !hasRequestId) visit(context, 'x_request_id', requestId);
}

/**
 * The size of `attributes` as repeated `KeyValue` fields, their tags included (one byte: every field that
 * holds attributes has a number below 16); `requestId` as `forEachAttribute` takes it.
 */
function attributesSize(attributes: Readonly<Record<string, unknown>>, sizes: SizeList, requestId?: string): number {
  const total = { sizes, size: 0 };
  forEachAttribute(attributes, requestId, total, addKeyValueSize);
  return total.size;
}

function addKeyValueSize(total: { sizes: SizeList; size: number }, key: string, value: unknown): void {
  total.size += keyValueSize(key, value, total.sizes);
}

function keyValueSize(key: string, value: unknown, sizes: SizeList): number {
  const place = sizes.reserve();
  const keyLength = sizes.text(key);
  const valuePlace = sizes.reserve();
  const valueSize = sizes.fill(valuePlace, anyValueSize(value, sizes));
  return fieldSize(sizes.fill(place, fieldSize(keyLength) + fieldSize(valueSize)));
}

function anyValueSize(value: unknown, sizes: SizeList): number {
  switch (typeof value) {
    case 'string':
      return fieldSize(sizes.text(value));
    case 'boolean':
      return 2;
    case 'number':
      return isInt64(value) ? 1 + int64VarintSize(value) : 9;
    default:
      sizes.unencodable = true;
      return 0;
  }
}

/** A tag of one byte, then a length and that many bytes. */
function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x20_0000 ? 3 : value < 0x1000_0000 ? 4 : 5;
}

function isInt64(value: number): boolean {
  return Number.isInteger(value) && value >= INT64_MIN && value < INT64_LIMIT;
}

function int64VarintSize(value: number): number {
  if (value >= 0 && value < TWO_POW_32) return varintSize(value);
  let [low, high] = int64Words(value);
  let size = 1;
  while (high > 0 || low > 0x7f) {
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
    size++;
  }
  return size;
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

const HEX_VALUES = new Uint8Array(128);
for (let digit = 0; digit < 16; digit++) {
  HEX_VALUES['0123456789abcdef'.charCodeAt(digit)] = digit;
  HEX_VALUES['0123456789ABCDEF'.charCodeAt(digit)] = digit;
}

const textEncoder = new TextEncoder();

/** The request's bytes, written front to back into a buffer of the size the sizing pass found, as `sizes` plans. */
class ProtobufOut {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private pos = 0;

  constructor(
    size: number,
    private readonly sizes: SizeList,
  ) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  tag(tag: number): this {
    this.bytes[this.pos++] = tag;
    return this;
  }

  varint(value: number): this {
    while (value > 0x7f) {
      this.bytes[this.pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.bytes[this.pos++] = value;
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

  /** The plan's next text: its UTF-8, after its length. */
  text(): this {
    const bytes = this.sizes.takeText();
    this.varint(bytes.length);
    if (bytes.length < 64) for (const byte of bytes) this.bytes[this.pos++] = byte;
    else {
      this.bytes.set(bytes, this.pos);
      this.pos += bytes.length;
    }
    return this;
  }

  /** Lower- or upper-case hex digits as the bytes they spell. */
  hexBytes(hex: string): this {
    this.varint(hex.length >> 1);
    for (let i = 0; i < hex.length; i += 2) {
      this.bytes[this.pos++] = (HEX_VALUES[hex.charCodeAt(i)]! << 4) | HEX_VALUES[hex.charCodeAt(i + 1)]!;
    }
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
    this.varint(this.sizes.take());
    this.tag(FIELD_1_LEN).hexBytes(span.traceId);
    this.tag(FIELD_2_LEN).hexBytes(span.spanId);
    if (span.parentSpanId !== undefined) this.tag(FIELD_4_LEN).hexBytes(span.parentSpanId);
    this.tag(FIELD_5_LEN).text();
    this.tag(FIELD_6_VARINT).varint(KIND_NUMBERS[span.kind]);
    this.tag(FIELD_7_FIXED64).epochNanos(span.startTime);
    this.tag(FIELD_8_FIXED64).epochNanos(span.endTime);
    this.attributes(span.attributes, FIELD_9_LEN, span.requestId);
    this.tag(FIELD_10_VARINT).varint(0);
    for (const event of span.events) this.tag(FIELD_11_LEN).event(event);
    this.tag(FIELD_12_VARINT).varint(0);
    this.tag(FIELD_14_VARINT).varint(0);
    this.tag(FIELD_15_LEN).varint(this.sizes.take());
    if (span.statusMessage) this.tag(FIELD_2_LEN).text();
    this.tag(FIELD_3_VARINT).varint(STATUS_NUMBERS[span.status]);
    this.bytes[this.pos++] = FIELD_16_FIXED32[0];
    this.bytes[this.pos++] = FIELD_16_FIXED32[1];
    this.view.setUint32(this.pos, SPAN_FLAGS, true);
    this.pos += 4;
  }

  event(event: SpanEvent): void {
    this.varint(this.sizes.take());
    this.tag(FIELD_1_FIXED64).epochNanos(event.time);
    this.tag(FIELD_2_LEN).text();
    if (event.attributes !== undefined) this.attributes(event.attributes, FIELD_3_LEN);
    this.tag(FIELD_4_VARINT).varint(0);
  }

  attributes(attributes: Readonly<Record<string, unknown>> | SpanAttributes, tag: number, requestId?: string): void {
    forEachAttribute(attributes, requestId, { out: this, tag }, writeKeyValue);
  }

  keyValue(value: unknown, tag: number): void {
    this.tag(tag).varint(this.sizes.take());
    this.tag(FIELD_1_LEN).text();
    this.tag(FIELD_2_LEN).varint(this.sizes.take());
    if (typeof value === 'string') this.tag(FIELD_1_LEN).text();
    else if (typeof value === 'boolean') this.tag(FIELD_2_VARINT).varint(value ? 1 : 0);
    else if (isInt64(value as number)) this.tag(FIELD_3_VARINT).int64(value as number);
    else {
      this.tag(FIELD_4_DOUBLE);
      this.view.setFloat64(this.pos, value as number, true);
      this.pos += 8;
    }
  }
}

function writeKeyValue(at: { out: ProtobufOut; tag: number }, _key: string, value: unknown): void {
  at.out.keyValue(value, at.tag);
}
