/**
 * Reads and writes headers through getter/setter functions, so that one code path serves HTTP headers,
 * NATS message headers and plain objects (the shape of OpenTelemetry's propagators).
 */
export interface HeaderGetter<C> {
  keys(carrier: C): Iterable<string>;
  get(carrier: C, key: string): string | string[] | undefined;
}

/** Writes one header into a carrier. @publicApi */
export interface HeaderSetter<C> {
  set(carrier: C, key: string, value: string): void;
}

interface MapLike {
  keys(): Iterable<string>;
  get(key: string): unknown;
}

/**
 * Reads plain objects (`{ 'X-Request-Id': 'a' }`), `Map`s, and header classes with `keys()` and
 * `get()` (NATS `MsgHdrs`, the Fetch API's `Headers`).
 * @publicApi
 */
export const defaultHeaderGetter: HeaderGetter<unknown> = {
  keys(carrier) {
    if (carrier === null || typeof carrier !== 'object') return [];
    if (isMapLike(carrier)) return carrier.keys();
    return Object.keys(carrier);
  },
  get(carrier, key) {
    if (carrier === null || typeof carrier !== 'object') return undefined;
    const value = isMapLike(carrier) ? carrier.get(key) : (carrier as Record<string, unknown>)[key];
    return typeof value === 'string' || Array.isArray(value) ? (value as string | string[]) : undefined;
  },
};

/** Writes into plain objects and into header classes with `set()`. @publicApi */
export const defaultHeaderSetter: HeaderSetter<unknown> = {
  set(carrier, key, value) {
    if (carrier === null || typeof carrier !== 'object') return;
    const withSet = carrier as { set?: (key: string, value: string) => void };
    if (typeof withSet.set === 'function') withSet.set(key, value);
    else (carrier as Record<string, string>)[key] = value;
  },
};

/**
 * The value of header `name` in `carrier`, its name matched case-insensitively. A header present under
 * two spellings is returned as an array, which the id policy rejects as multiple values.
 * @publicApi
 */
export function readHeader<C>(
  carrier: C,
  name: string,
  getter: HeaderGetter<C> = defaultHeaderGetter,
): string | string[] | undefined {
  const wanted = name.toLowerCase();
  const found: string[] = [];
  for (const key of getter.keys(carrier)) {
    if (key.toLowerCase() !== wanted) continue;
    const value = getter.get(carrier, key);
    if (value !== undefined) found.push(...(Array.isArray(value) ? value : [value]));
  }
  if (found.length === 0) return undefined;
  return found.length === 1 ? found[0] : found;
}

function isMapLike(value: object): value is MapLike {
  return typeof (value as MapLike).keys === 'function' && typeof (value as MapLike).get === 'function';
}
