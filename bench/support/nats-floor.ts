import type { NatsConnection } from '@nats-io/transport-node';

/**
 * The least an RPC over the NATS client can do, as a floor for bench:nats's calls: the caller publishes
 * `{ id, data }` as JSON with its inbox as the reply subject, the callee parses it and publishes
 * `{ id, data }` back, and the caller resolves the call by its id. No request id, no timeout, no
 * cancellation: what every framework's call costs at least on the same client and nats-server.
 */
export const FLOOR_SUBJECT = 'bench.floor.echo';

/** The callee of the floor, on `connection`. */
export function serveFloor(connection: NatsConnection): void {
  connection.subscribe(FLOOR_SUBJECT, {
    callback: (error, message) => {
      if (error !== null) return;
      const { id, data } = message.json<{ id: number; data: unknown }>();
      message.respond(JSON.stringify({ id, data }));
    },
  });
}

/**
 * The caller of the floor, on `connection`: a function making one call. Calls in flight wait in an array,
 * each at the index its id names, reused once it is answered.
 */
export async function floorCaller(connection: NatsConnection): Promise<(data: unknown) => Promise<unknown>> {
  const inbox = `_INBOX.floor.${process.pid}`;
  const pending: Array<((data: unknown) => void) | undefined> = [];
  const free: number[] = [];
  connection.subscribe(inbox, {
    callback: (error, message) => {
      if (error !== null) return;
      const { id, data } = message.json<{ id: number; data: unknown }>();
      const resolve = pending[id];
      if (resolve === undefined) return;
      pending[id] = undefined;
      free.push(id);
      resolve(data);
    },
  });
  await connection.flush();
  return (data) =>
    new Promise((resolve) => {
      const id = free.pop() ?? pending.length;
      pending[id] = resolve;
      connection.publish(FLOOR_SUBJECT, JSON.stringify({ id, data }), { reply: inbox });
    });
}
