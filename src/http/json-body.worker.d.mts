/** A parsed body, or `ok: false` for one that is not JSON or holds a forbidden key. */
export type ParsedJsonBody = { ok: true; value: unknown } | { ok: false };

export declare function parseJsonBody(bytes: Uint8Array): ParsedJsonBody;
export default parseJsonBody;
