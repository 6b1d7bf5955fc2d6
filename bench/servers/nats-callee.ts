/**
 * The callee side of bench:nats, in a process of its own: a raw NATS responder, the floor's responder
 * (`nats-floor.ts`), a Moleculer broker with the echo service on its NATS transporter, and Threadline
 * serving the echo component, all on the nats-server given as the first argument. Prints `READY 0` once
 * all four serve.
 */
import 'reflect-metadata';
import { connect } from '@nats-io/transport-node';
import { ServiceBroker } from 'moleculer';
import { MOLECULER_ECHO, RAW_SUBJECT, startEchoModule } from '../support/nats-echo.js';
import { serveFloor } from '../support/nats-floor.js';

async function main(): Promise<void> {
  const url = process.argv[2]!;
  const responder = await connect({ servers: url });
  responder.subscribe(RAW_SUBJECT, {
    callback: (_error, message) => {
      message.respond(message.data);
    },
  });
  serveFloor(responder);
  await responder.flush();
  const broker = new ServiceBroker({
    nodeID: `bench-callee-${process.pid}`,
    transporter: { type: 'NATS', options: { url } },
    logger: false,
  });
  broker.createService(MOLECULER_ECHO);
  await broker.start();
  await startEchoModule(url, true);
  console.log('READY 0');
}

await main();
