import type { Socket } from 'node:net';
import { PacedSocketCloser } from './paced-socket-closer.js';

/**
 * Connections refused with their body unread, kept open a while after their answer (see
 * `closeWhenAnswered`), and closed when their time is up or when too many are held, unless they close
 * first (reset by their client): the server reads nothing more from them, so it cannot see a client
 * that simply leaves, and each holds one of the MAX_CONNECTIONS slots until it is closed. Past `limit`, the oldest is closed at once:
 * a client refused over and over, as fast as it can reconnect, must not fill the slots that everyone
 * else's connections need. Closing is paced (`PacedSocketCloser`).
 */
export class LingeringConnections {
  /** In the order they began to linger: the first is the oldest. */
  private readonly held = new Map<Socket, NodeJS.Timeout>();
  private readonly closer = new PacedSocketCloser();

  constructor(
    /** The most held at once. */
    readonly limit: number,
    /** How long one is held at most, in milliseconds. */
    private readonly lingerMs: number,
  ) {}

  get size(): number {
    return this.held.size;
  }

  hold(socket: Socket): void {
    if (this.held.has(socket) || socket.destroyed) return;
    const timer = setTimeout(() => this.release(socket), this.lingerMs);
    timer.unref();
    this.held.set(socket, timer);
    socket.once('close', () => this.forget(socket));
    if (this.held.size > this.limit) this.release(this.held.keys().next().value!);
  }

  /** Stops holding `socket` and closes it (paced). */
  private release(socket: Socket): void {
    if (!this.forget(socket)) return;
    this.closer.close(socket);
  }

  private forget(socket: Socket): boolean {
    const timer = this.held.get(socket);
    if (timer === undefined) return false;
    clearTimeout(timer);
    this.held.delete(socket);
    return true;
  }
}
