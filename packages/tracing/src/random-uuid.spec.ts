import { describe, expect, it } from 'vitest';
import { randomUuid } from './random-uuid.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('randomUuid', () => {
  it('makes version 4 UUIDs of the RFC 9562 variant, in lower case', () => {
    for (let i = 0; i < 1000; i++) expect(randomUuid()).toMatch(UUID_V4);
  });

  it('never repeats one, across the batches it draws', () => {
    const ids = Array.from({ length: 5000 }, () => randomUuid());
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('uses every hex digit at every random position', () => {
    const ids = Array.from({ length: 4000 }, () => randomUuid());
    for (let position = 0; position < 36; position++) {
      if ([8, 13, 14, 18, 19, 23].includes(position)) continue; // dashes, version, variant
      expect(new Set(ids.map((id) => id[position])).size, `position ${position}`).toBe(16);
    }
  });
});
