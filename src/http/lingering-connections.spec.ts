import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../test/support/wait-for.js';
import { LingeringConnections } from './lingering-connections.js';

/** A socket that records its destruction, and closes when destroyed, as a real one does. */
function fakeSocket(name: string, destroyed: string[]): Socket {
  const socket = new EventEmitter() as EventEmitter & { destroyed: boolean; destroy: () => void };
  socket.destroyed = false;
  socket.destroy = () => {
    socket.destroyed = true;
    destroyed.push(name);
    socket.emit('close');
  };
  return socket as unknown as Socket;
}

describe('LingeringConnections', () => {
  it('closes each held connection once its time is up', async () => {
    const destroyed: string[] = [];
    const lingering = new LingeringConnections(10, 200);
    lingering.hold(fakeSocket('a', destroyed));
    await nextTurn();
    expect(destroyed).toEqual([]);
    expect(lingering.size).toBe(1);
    // Waited for rather than slept on: a loaded machine runs a timer late, never early.
    await waitUntil(() => destroyed.length > 0);
    expect(destroyed).toEqual(['a']);
    expect(lingering.size).toBe(0);
  });

  it('past its limit closes the oldest at once, so that no more than the limit are held', async () => {
    const destroyed: string[] = [];
    const lingering = new LingeringConnections(2, 60_000);
    for (const name of ['a', 'b', 'c', 'd']) lingering.hold(fakeSocket(name, destroyed));
    expect(lingering.size).toBe(2);
    // Closed one a turn of the event loop, oldest first.
    await nextTurn();
    await nextTurn();
    expect(destroyed).toEqual(['a', 'b']);
  });

  it('forgets a connection that closed by itself: it neither counts nor is closed again', async () => {
    const destroyed: string[] = [];
    const lingering = new LingeringConnections(1, 30);
    const gone = fakeSocket('gone', destroyed);
    lingering.hold(gone);
    gone.emit('close');
    expect(lingering.size).toBe(0);
    lingering.hold(fakeSocket('next', destroyed));
    await waitUntil(() => destroyed.length > 0);
    await sleep(40);
    expect(destroyed).toEqual(['next']);
  });
});
