// `node --import ./test/support/ts-register.mjs src/main.ts` runs the service from its sources.
import { register } from 'node:module';

register('./ts-loader.mjs', import.meta.url);
