import type { TestingModule } from '@nestjs/testing';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { getComponentToken, unary } from '@threadline/runtime';
import type { ComponentClient } from '@threadline/runtime';
import { RequestIdService } from '@threadline/tracing';
import { LogCapture } from '../support/log-capture.js';
import { describeWithNats, startNatsServer } from '../support/nats-server.js';
import type { NatsServer } from '../support/nats-server.js';
import { startNatsSide } from '../support/nats-side.js';
import { waitUntil } from '../support/wait-for.js';
import { SlowAnswerer } from './processes/slow-answerer.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/**
 * A unary call's instance is killed (`kill -9` of its process) after it took the call but before its
 * start frame left (its event loop held by a long computation): its caller never heard it was taken. The call is sent again, finds no other
 * instance, and fails saying what happened: the instance it was sent to is gone.
 */
describeWithNats('a unary call whose instance is killed before it answers', () => {
  let nats: NatsServer;
  let caller: TestingModule;
  let callee: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    nats = await startNatsServer();
    callee = spawn(
      process.execPath,
      [
        '--conditions=threadline-source',
        '--import',
        `${ROOT}test/support/ts-register.mjs`,
        `${ROOT}test/runtime/processes/slow-answerer.ts`,
        nats.url,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    callee.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitUntil(() => output.includes('serving\n'), 60_000);
    caller = await startNatsSide({
      components: [SlowAnswerer],
      serve: [],
      nats: { url: nats.url, shutdownGraceMs: 500 },
      tracing: { logDestination: new LogCapture() },
    });
  }, 90_000);
  afterAll(async () => {
    callee?.kill('SIGKILL');
    await caller?.close();
    await nats?.stop();
  });

  it('fails with instance_gone naming that instance, not component_unavailable', async () => {
    const client = caller.get<ComponentClient<SlowAnswerer>>(getComponentToken(SlowAnswerer));
    await waitUntil(async () => (await client.instances()).length > 0, 10_000);
    const [instance] = await client.instances();
    const outcome = caller
      .get(RequestIdService)
      .run(() => unary(client.answer({ busyMs: 20_000 })), 'killed-1')
      .then(
        () => 'answered',
        (error: unknown) => error,
      );
    await waitUntil(() => output.includes('taken killed-1\n'), 10_000);
    const killedAt = Date.now();
    callee!.kill('SIGKILL');
    const failure = await outcome;
    expect(failure).toMatchObject({ status: 503, code: 'instance_gone', requestId: 'killed-1' });
    expect((failure as Error).message).toContain(`instance ${instance} went away`);
    // Within the three silent heartbeats that make an instance gone, and a margin.
    expect(Date.now() - killedAt).toBeLessThan(6000);
  }, 30_000);
});
