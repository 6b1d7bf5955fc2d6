/**
 * Embedding vectors as OpenAI's `encoding_format: "base64"` carries them: the float32 values,
 * little-endian, in base64. The pipeline carries them so between components too: a quarter of the size
 * of the numbers in JSON, and the same values whichever format the client asks for.
 */

/** `values` as little-endian float32, in base64. */
export function encodeVector(values: ArrayLike<number>): string {
  const bytes = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) bytes.writeFloatLE(values[i]!, i * 4);
  return bytes.toString('base64');
}

/** The numbers of a vector `encodeVector` wrote. */
export function decodeVector(base64: string): number[] {
  const bytes = Buffer.from(base64, 'base64');
  const values = new Array<number>(bytes.length >> 2);
  for (let i = 0; i < values.length; i++) values[i] = bytes.readFloatLE(i * 4);
  return values;
}
