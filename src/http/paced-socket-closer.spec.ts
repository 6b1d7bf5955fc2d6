import type { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { PacedSocketCloser } from './paced-socket-closer.js';

describe('PacedSocketCloser', () => {
  it('destroys the sockets given to it one a turn of the event loop, in order', async () => {
    const destroyed: number[] = [];
    const socket = (n: number) => ({ destroy: () => destroyed.push(n) }) as unknown as Socket;
    const closer = new PacedSocketCloser();
    for (const n of [1, 2, 3]) closer.close(socket(n));
    expect(destroyed).toEqual([]);
    await nextTurn();
    expect(destroyed).toEqual([1]);
    await nextTurn();
    await nextTurn();
    expect(destroyed).toEqual([1, 2, 3]);
    closer.close(socket(4));
    await nextTurn();
    expect(destroyed).toEqual([1, 2, 3, 4]);
  });
});
