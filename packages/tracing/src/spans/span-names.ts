/** The most names one `SpanNames` keeps; past that, names are joined afresh each time. */
const MAX_NAMES = 1024;

/**
 * Span names made of two parts (`processor.generate`, `POST /v1/chat/completions`), joined once per pair
 * and then handed out as the same string. A pipeline names its spans after a few components' endpoints
 * and a few routes; joined for every span, each name would be a new string, kept as long as the span is
 * (in the timeline, in an export batch), and hashed anew by whatever looks it up (the OTLP encoder does).
 */
export class SpanNames {
  private readonly byFirst = new Map<string, Map<string, string>>();
  private size = 0;

  constructor(private readonly separator: string) {}

  /** `first`, the separator, then `second`. */
  of(first: string, second: string): string {
    let seconds = this.byFirst.get(first);
    const known = seconds?.get(second);
    if (known !== undefined) return known;
    const name = first + this.separator + second;
    if (this.size >= MAX_NAMES) return name;
    if (seconds === undefined) this.byFirst.set(first, (seconds = new Map<string, string>()));
    seconds.set(second, name);
    this.size++;
    return name;
  }
}
