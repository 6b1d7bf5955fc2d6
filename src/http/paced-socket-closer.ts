import type { Socket } from 'node:net';

/**
 * Destroys sockets one a turn of the event loop. Closing a connection whose client is still sending
 * (a refused large body, left unread) has the kernel free what it buffered for it, megabytes of it:
 * connections refused together reach their close together, and closing them all in one turn would
 * hold up every other request for all of them at once.
 */
export class PacedSocketCloser {
  private readonly waiting: Socket[] = [];

  close(socket: Socket): void {
    if (this.waiting.push(socket) === 1) setImmediate(this.closeNext);
  }

  private readonly closeNext = (): void => {
    this.waiting.shift()?.destroy();
    if (this.waiting.length > 0) setImmediate(this.closeNext);
  };
}
