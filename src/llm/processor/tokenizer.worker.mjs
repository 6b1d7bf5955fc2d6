// The tokenizer pool's threads (piscina) run this file's default export; short prompts are encoded
// inline with `encodeTexts`. Plain JavaScript, so that it loads as it is from dist/ and from src/ alike.
import { move } from 'piscina';
import { encodeBounded } from './bounded-bpe.mjs';

/**
 * The token ids of each text of a prompt, and their count. Past `keepUpTo` tokens in all, only the
 * count: such a prompt is refused, and its ids would cost the event loop to receive.
 */
export function encodeTexts({ texts, keepUpTo }) {
  const ids = texts.map(encodeBounded);
  const count = ids.reduce((sum, textIds) => sum + textIds.length, 0);
  return count > keepUpTo ? { count } : { count, ids };
}

/**
 * `encodeTexts` in a thread. The ids come back packed in one Int32Array that is moved, not copied:
 * receiving a JS array of numbers costs the event loop several times more. Layout: the number of
 * texts, the length of each, then their ids. Only the count when there is no need for the ids.
 */
export default function encodeTextsPacked(task) {
  const { count, ids } = encodeTexts(task);
  if (ids === undefined) return count;
  const packed = new Int32Array(1 + ids.length + count);
  packed[0] = ids.length;
  let at = 1 + ids.length;
  ids.forEach((textIds, index) => {
    packed[1 + index] = textIds.length;
    packed.set(textIds, at);
    at += textIds.length;
  });
  return move(packed);
}

/** What `encodeTextsPacked` returned, as `encodeTexts` returns it. */
export function unpack(result) {
  if (typeof result === 'number') return { count: result };
  const texts = result[0];
  const ids = [];
  let at = 1 + texts;
  for (let index = 0; index < texts; index++) {
    const textIds = new Array(result[1 + index]);
    for (let i = 0; i < textIds.length; i++) textIds[i] = result[at + i];
    ids.push(textIds);
    at += textIds.length;
  }
  return { count: at - 1 - texts, ids };
}
