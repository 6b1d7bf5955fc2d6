import { connect, headers } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { describeWithNats, freePort, natsServerAvailability, probeNatsServer, startNatsServer } from './nats-server.js';
import type { NatsServer } from './nats-server.js';
import { waitFor } from './wait-for.js';

// A self-check of the test helper that the distributed tests stand on: a real nats-server on a free
// loopback port, which a client can use, and which stops and restarts on the same port.

describe('natsServerAvailability', () => {
  it('names the reason when the binary is missing', () => {
    const missing = probeNatsServer({ NATS_SERVER_BIN: '/nonexistent/nats-server' });
    expect(missing.available).toBe(false);
    expect(missing.reason).toContain('/nonexistent/nats-server');
  });

  it('is cached and consistent with the uncached probe', () => {
    expect(natsServerAvailability()).toBe(natsServerAvailability());
    expect(natsServerAvailability().available).toBe(probeNatsServer().available);
  });
});

describeWithNats('startNatsServer', () => {
  const servers: NatsServer[] = [];
  const connections: NatsConnection[] = [];
  afterEach(async () => {
    await Promise.all(connections.splice(0).map((nc) => nc.close().catch(() => undefined)));
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  async function roundTrip(
    nc: NatsConnection,
    subject: string,
    text: string,
  ): Promise<{ text: string; requestId: string | undefined }> {
    const sub = nc.subscribe(subject, { max: 1 });
    await nc.flush();
    const h = headers();
    h.set('x-request-id', `${subject}-id`);
    nc.publish(subject, text, { headers: h });
    for await (const msg of sub) return { text: msg.string(), requestId: msg.headers?.get('x-request-id') };
    throw new Error('subscription ended without a message');
  }

  it('starts on a free loopback port, serves a client, restarts on the same port, and stops', async () => {
    const server = await startNatsServer();
    servers.push(server);
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(server.running).toBe(true);

    const first = await connect({ servers: server.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
    connections.push(first);
    expect(await roundTrip(first, 'selfcheck.one', 'hello')).toEqual({ text: 'hello', requestId: 'selfcheck.one-id' });

    // A restart is an outage on the same port: the first client reconnects by itself, a new one connects.
    const statuses: string[] = [];
    void (async () => {
      for await (const status of first.status()) statuses.push(status.type);
    })();
    await server.restart();
    expect(server.running).toBe(true);
    await waitFor(() => (statuses.includes('reconnect') ? true : undefined), 10_000);
    expect(statuses).toContain('disconnect');
    expect(await roundTrip(first, 'selfcheck.two', 'after restart')).toEqual({
      text: 'after restart',
      requestId: 'selfcheck.two-id',
    });

    const second = await connect({ servers: server.url });
    connections.push(second);
    const sub = second.subscribe('selfcheck.cross', { max: 1 });
    await second.flush();
    first.publish('selfcheck.cross', 'from the first client');
    for await (const msg of sub) expect(msg.string()).toBe('from the first client');

    await server.stop();
    expect(server.running).toBe(false);
    await server.stop(); // idempotent
    await expect(connect({ servers: server.url, reconnect: false, timeout: 1000 })).rejects.toThrow();
  });

  it('starts on a given port, e.g. one a client was told to use before the server existed', async () => {
    const port = await freePort();
    await expect(connect({ servers: `nats://127.0.0.1:${port}`, reconnect: false, timeout: 1000 })).rejects.toThrow();
    const server = await startNatsServer({ port });
    servers.push(server);
    expect(server.port).toBe(port);
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    expect(await roundTrip(nc, 'selfcheck.port', 'on the given port')).toMatchObject({ text: 'on the given port' });
  });

  it('fails to start, with the server log, when the port is taken', async () => {
    const server = await startNatsServer();
    servers.push(server);
    await expect(startNatsServer({ port: server.port })).rejects.toThrow(/exited during start-up|did not accept/);
  });
});
