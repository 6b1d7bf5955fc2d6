/** A parsed body, or `ok: false` for one that is not JSON or (`poisoned`) holds a forbidden key. */
export type ParsedJsonBody = { ok: true; value: unknown } | { ok: false; poisoned?: true };

export declare function parseJsonBody(chunks: readonly Uint8Array[]): ParsedJsonBody;
export default parseJsonBody;
