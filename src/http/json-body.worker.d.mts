/** A parsed body, or `ok: false` for one that is not JSON or holds a forbidden key. */
export type ParsedJsonBody = { ok: true; value: unknown } | { ok: false };

export declare function parseJsonBody(chunks: readonly Uint8Array[]): ParsedJsonBody;
export default parseJsonBody;
