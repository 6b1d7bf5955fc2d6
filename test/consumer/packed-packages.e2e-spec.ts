import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UUID_V4 } from '../support/raw-http.js';
import { waitFor } from '../support/wait-for.js';
import { startConsumerApp } from './support/app-process.js';
import type { RunningApp } from './support/app-process.js';
import { buildConsumerApp } from './support/consumer-app.js';
import type { ConsumerAppSpec } from './support/consumer-app.js';
import { importedModules } from './support/import-specifiers.js';
import { copiesOf, entriesNamed, installedPaths, lockedResolution } from './support/installed-tree.js';
import { packWorkspaces } from './support/pack-workspaces.js';
import type { PackedWorkspaces } from './support/pack-workspaces.js';

/**
 * The libraries the way a user gets them: `npm pack`ed, installed from the tarball into fresh apps
 * outside this repository, compiled with the app's own tsc, run with node, and asked over real sockets.
 */
const CONSUMER_APPS: Array<{ title: string; app: ConsumerAppSpec }> = [
  {
    title: 'a Fastify app written as ESM',
    app: {
      name: 'fastify-esm',
      sources: ['app-src', 'fastify-esm'],
      libraries: ['tracing'],
      moduleType: 'module',
      platform: ['@nestjs/platform-fastify', 'fastify'],
    },
  },
  {
    title: 'an Express app compiled to CommonJS',
    app: {
      name: 'express-cjs',
      sources: ['app-src', 'express-cjs'],
      libraries: ['tracing'],
      moduleType: 'commonjs',
      platform: ['@nestjs/platform-express', 'express'],
    },
  },
];

const CONCURRENT_REQUESTS = 100;
/** The Nest `Logger` names of the fixture app's controller and @Traced() provider. */
const APP_LOGGERS = ['WhoAmIController', 'SlowWork'];
const INVALID_IDS = [
  { label: 'with spaces', value: 'bad id with spaces' },
  { label: 'of 200 characters', value: `too-long-${'x'.repeat(191)}` },
];

/**
 * The runtime's app: a Fastify app in ESM (the fastify-esm main.ts) whose controller calls a
 * component in process, with both libraries installed from their tarballs.
 */
const RUNTIME_APP: ConsumerAppSpec = {
  name: 'runtime-fastify-esm',
  sources: ['runtime-src', 'fastify-esm'],
  libraries: ['tracing', 'runtime'],
  moduleType: 'module',
  platform: ['@nestjs/platform-fastify', 'fastify'],
};
const RUNTIME_CONCURRENT_REQUESTS = 50;

interface WhoAmI {
  status: number;
  header: string | null;
  id: unknown;
}

async function whoAmI(app: RunningApp, requestId?: string): Promise<WhoAmI> {
  const response = await fetch(`${app.url}/whoami`, {
    headers: requestId === undefined ? {} : { 'x-request-id': requestId },
  });
  const body = (await response.json()) as { id?: unknown };
  return { status: response.status, header: response.headers.get('x-request-id'), id: body.id };
}

/** What the greeter component said, with the request id it saw while saying it. */
interface Greeting {
  text: string;
  requestId: string | undefined;
}

interface Greeted {
  status: number;
  header: string | null;
  /** The id the controller saw after both calls. */
  id: unknown;
  /** The items the component's streaming endpoint yielded. */
  greeting: Greeting[];
  /** The answer of its unary endpoint. */
  farewell: Greeting;
}

async function greet(app: RunningApp, name: string, requestId?: string): Promise<Greeted> {
  const headers: Record<string, string> = requestId === undefined ? {} : { 'x-request-id': requestId };
  const response = await fetch(`${app.url}/greet?name=${encodeURIComponent(name)}`, { headers });
  const body = (await response.json()) as Omit<Greeted, 'status' | 'header'>;
  return { status: response.status, header: response.headers.get('x-request-id'), ...body };
}

/** The answer to `greet(app, name, id)` when `id` reached the component and came back, and no other id did. */
function greetedWith(id: string, name: string): Greeted {
  return {
    status: 200,
    header: id,
    id,
    greeting: [
      { text: 'hello', requestId: id },
      { text: name, requestId: id },
    ],
    farewell: { text: `goodbye ${name}`, requestId: id },
  };
}

describe('the packed libraries, installed from their tarballs into fresh apps', () => {
  let workDir: string;
  let tarballs: PackedWorkspaces;

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'threadline-consumer-'));
    await mkdir(join(workDir, 'tarballs'));
    tarballs = await packWorkspaces(join(workDir, 'tarballs'));
  }, 120_000);

  afterAll(async () => {
    if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
  });

  it('packs both libraries', () => {
    expect(tarballs.tracing).toMatch(/threadline-tracing-[\d.]+\.tgz$/);
    expect(tarballs.runtime).toMatch(/threadline-runtime-[\d.]+\.tgz$/);
  });

  for (const { title, app: spec } of CONSUMER_APPS) {
    describe(`@threadline/tracing in ${title}`, () => {
      let appDir: string;
      let app: RunningApp;

      beforeAll(async () => {
        appDir = await buildConsumerApp(spec, workDir, tarballs);
        app = await startConsumerApp(appDir);
      }, 240_000);

      afterAll(async () => {
        await app?.stop();
      });

      it('echoes a valid incoming X-Request-Id, and the controller sees that id', async () => {
        const id = `${spec.name}-valid-1`;
        expect(await whoAmI(app, id)).toEqual({ status: 200, header: id, id });
      });

      it('answers a request without an id with a new UUIDv4, the same in the header and in the controller', async () => {
        const { status, header, id } = await whoAmI(app);
        expect(status).toBe(200);
        expect(header).toMatch(UUID_V4);
        expect(id).toBe(header);
      });

      for (const { label, value } of INVALID_IDS) {
        it(`replaces an invalid id ${label} with a new UUIDv4, logs why and how long it was, and neither echoes nor logs the value`, async () => {
          const { status, header, id } = await whoAmI(app, value);
          expect(status).toBe(200);
          expect(header).toMatch(UUID_V4);
          expect(id).toBe(header);
          const replaced = await waitFor(() =>
            app.logs.lines.find((line) => line.requestId === header && line.length !== undefined),
          );
          expect(replaced).toMatchObject({ reason: expect.any(String) as unknown, length: value.length });
          expect(app.logs.contains(value)).toBe(false);
          expect(app.stderr()).not.toContain(value);
        });
      }

      it('puts the id on the 404 of a route that does not exist', async () => {
        const id = `${spec.name}-404`;
        const response = await fetch(`${app.url}/no-such-route`, { headers: { 'x-request-id': id } });
        await response.arrayBuffer();
        expect(response.status).toBe(404);
        expect(response.headers.get('x-request-id')).toBe(id);
      });

      it(`gives each of ${CONCURRENT_REQUESTS} concurrent requests back its own id and no other, in the header and in the body`, async () => {
        const ids = Array.from({ length: CONCURRENT_REQUESTS }, (_, i) => `${spec.name}-concurrent-${i}`);
        const answers = await Promise.all(ids.map((id) => whoAmI(app, id)));
        expect(answers).toEqual(ids.map((id) => ({ status: 200, header: id, id })));
      });

      it("writes the controller's and the @Traced() provider's log lines with the id of the request they served", async () => {
        const ids = Array.from({ length: CONCURRENT_REQUESTS }, (_, i) => `${spec.name}-logged-${i}`);
        const firstLine = app.logs.raw.length;
        await Promise.all(ids.map((id) => whoAmI(app, id)));
        const appLines = () =>
          app.logs.lines.slice(firstLine).filter((line) => APP_LOGGERS.includes(String(line.context)));
        await waitFor(() => (appLines().length >= APP_LOGGERS.length * ids.length ? true : undefined));
        const linesByRequestId: Record<string, string[]> = {};
        for (const line of appLines())
          (linesByRequestId[String(line.requestId)] ??= []).push(`${String(line.context)}: ${line.msg}`);
        expect(linesByRequestId).toEqual(
          Object.fromEntries(ids.map((id) => [id, ['WhoAmIController: whoami called', 'SlowWork: slow work done']])),
        );
      });

      it('installs one @nestjs/core, shared with the library, and neither the other HTTP platform nor openai, gpt-tokenizer or @nats-io', async () => {
        const paths = await installedPaths(appDir);
        expect(copiesOf(paths, '@nestjs/core')).toEqual([join('node_modules', '@nestjs', 'core')]);
        for (const name of ['openai', 'gpt-tokenizer', '@nats-io']) expect(entriesNamed(paths, name), name).toEqual([]);
        const otherPlatform = CONSUMER_APPS.flatMap(({ app }) => app.platform).filter(
          (name) => !spec.platform.includes(name),
        );
        for (const name of otherPlatform) expect(copiesOf(paths, name), name).toEqual([]);
      });

      it(`loads the library with ${spec.moduleType === 'module' ? 'import' : 'require()'} from its compiled main.js`, async () => {
        const main = await readFile(join(appDir, 'dist', 'main.js'), 'utf8');
        const loadsTracing =
          spec.moduleType === 'module'
            ? /^import .* from '@threadline\/tracing';$/m
            : /= require\("@threadline\/tracing"\);$/m;
        expect(main).toMatch(loadsTracing);
      });

      it('reaches all it needs through the public entry: its code imports @threadline/tracing and no subpath of it', async () => {
        for (const folder of ['src', 'dist']) {
          const threadline = (await importedModules(join(appDir, folder))).filter((name) =>
            name.startsWith('@threadline/'),
          );
          expect(threadline, folder).toEqual(['@threadline/tracing']);
        }
      });
    });
  }

  describe('@threadline/runtime with @threadline/tracing, in an ESM Fastify app whose controller calls a component in process', () => {
    let appDir: string;
    let app: RunningApp;

    beforeAll(async () => {
      appDir = await buildConsumerApp(RUNTIME_APP, workDir, tarballs);
      app = await startConsumerApp(appDir);
    }, 240_000);

    afterAll(async () => {
      await app?.stop();
    });

    it("installs both tarballs in one npm install, the runtime's dependency on @threadline/tracing met by the tracing tarball: one copy of it", async () => {
      const paths = await installedPaths(appDir);
      for (const library of RUNTIME_APP.libraries) {
        const path = join('node_modules', '@threadline', library);
        expect(copiesOf(paths, `@threadline/${library}`), library).toEqual([path]);
        expect(await lockedResolution(appDir, path), library).toBe(`file:${relative(appDir, tarballs[library])}`);
      }
    });

    it("installs neither @nestjs/microservices nor @nats-io, the NATS transport's optional peers, and one @nestjs/core", async () => {
      const paths = await installedPaths(appDir);
      expect(copiesOf(paths, '@nestjs/microservices')).toEqual([]);
      expect(entriesNamed(paths, '@nats-io')).toEqual([]);
      expect(copiesOf(paths, '@nestjs/core')).toEqual([join('node_modules', '@nestjs', 'core')]);
    });

    it("carries a valid incoming X-Request-Id into the component's streaming and unary endpoints, and back in the header", async () => {
      const id = 'runtime-valid-1';
      expect(await greet(app, 'ada', id)).toEqual(greetedWith(id, 'ada'));
    });

    it('gives a request without an id a new UUIDv4, and the component sees that same id', async () => {
      const answer = await greet(app, 'grace');
      expect(answer.header).toMatch(UUID_V4);
      expect(answer).toEqual(greetedWith(answer.header!, 'grace'));
    });

    it('writes the component\'s Logger line with the request id and component "greeter"', async () => {
      const id = 'runtime-logged-1';
      await greet(app, 'alan', id);
      const line = await waitFor(() =>
        app.logs.lines.find((entry) => entry.context === 'GreeterComponent' && entry.requestId === id),
      );
      expect(line).toMatchObject({ msg: 'greeting alan', requestId: id, component: 'greeter' });
    });

    it(`gives each of ${RUNTIME_CONCURRENT_REQUESTS} concurrent requests its own id inside the component and no other, in the answers and in the log lines`, async () => {
      const calls = Array.from({ length: RUNTIME_CONCURRENT_REQUESTS }, (_, i) => ({
        id: `runtime-concurrent-${i}`,
        name: `caller-${i}`,
      }));
      const firstLine = app.logs.raw.length;
      const answers = await Promise.all(calls.map(({ id, name }) => greet(app, name, id)));
      expect(answers).toEqual(calls.map(({ id, name }) => greetedWith(id, name)));
      const componentLines = () =>
        app.logs.lines.slice(firstLine).filter((line) => line.context === 'GreeterComponent');
      await waitFor(() => (componentLines().length >= calls.length ? true : undefined));
      const linesByRequestId: Record<string, string[]> = {};
      for (const line of componentLines())
        (linesByRequestId[String(line.requestId)] ??= []).push(`${String(line.component)}: ${line.msg}`);
      expect(linesByRequestId).toEqual(
        Object.fromEntries(calls.map(({ id, name }) => [id, [`greeter: greeting ${name}`]])),
      );
    });

    it('reaches all it needs through the public entries: its code imports @threadline/runtime and @threadline/tracing and no subpath of them', async () => {
      for (const folder of ['src', 'dist']) {
        const threadline = (await importedModules(join(appDir, folder))).filter((name) =>
          name.startsWith('@threadline/'),
        );
        expect(threadline, folder).toEqual(['@threadline/runtime', '@threadline/tracing']);
      }
    });
  });
});
