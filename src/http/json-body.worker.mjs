// The JSON body parser's thread (piscina) runs this file's default export. Plain JavaScript, so that
// it loads as it is from dist/ and from src/ alike.

/** Cheap tests for text that may name a forbidden key, escaped or not (Fastify's, from secure-json-parse). */
const SUSPECT_PROTO =
  /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/;
const SUSPECT_CONSTRUCTOR =
  /"(?:c|\\u0063)(?:o|\\u006[Ff])(?:n|\\u006[Ee])(?:s|\\u0073)(?:t|\\u0074)(?:r|\\u0072)(?:u|\\u0075)(?:c|\\u0063)(?:t|\\u0074)(?:o|\\u006[Ff])(?:r|\\u0072)"\s*:/;

/**
 * A JSON body, given as the chunks it arrived in, parsed as Fastify's default parser does with
 * `onProtoPoisoning` and `onConstructorPoisoning` at `error`: UTF-8, a leading byte order mark skipped,
 * and a body holding a `__proto__` key or a `constructor` key with a `prototype` refused. `{ ok: false }` for a body that
 * is not JSON, `{ ok: false, poisoned: true }` for one refused, so that no error has to cross back from the thread.
 */
export function parseJsonBody(chunks) {
  let text = Buffer.concat(chunks).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false };
  }
  if (value === null || typeof value !== 'object') return { ok: true, value };
  if (!SUSPECT_PROTO.test(text) && !SUSPECT_CONSTRUCTOR.test(text)) return { ok: true, value };
  return poisoned(value) ? { ok: false, poisoned: true } : { ok: true, value };
}

function poisoned(root) {
  const has = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
  const pending = [root];
  while (pending.length > 0) {
    const node = pending.pop();
    if (has(node, '__proto__')) return true;
    const { constructor } = node;
    if (
      has(node, 'constructor') &&
      constructor !== null &&
      typeof constructor === 'object' &&
      has(constructor, 'prototype')
    )
      return true;
    for (const key in node) {
      const value = node[key];
      if (value !== null && typeof value === 'object') pending.push(value);
    }
  }
  return false;
}

export default parseJsonBody;
