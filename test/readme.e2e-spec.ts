import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPipeline } from './support/pipeline-app.js';
import type { PipelineApp } from './support/pipeline-app.js';

const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const readme = readFileSync(`${root}README.md`, 'utf8');

/** The README's fenced code blocks of one language, in order. */
function blocks(language: string): string[] {
  return [...readme.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
}

// The README's snippets, run as written against a running service (only the port differs).
describe('README snippets', () => {
  let pipeline: PipelineApp;
  const toService = (code: string) => code.replaceAll('http://127.0.0.1:8080', pipeline.url);
  beforeAll(async () => {
    pipeline = await startPipeline({ MOCKER_DECODE_MS_PER_TOKEN: '1' });
  });
  afterAll(() => pipeline.close());

  it('the curl command gets a chat completion joined to its request id', async () => {
    const curl = blocks('bash').find((block) => block.startsWith('curl'))!;
    const { stdout } = await run('bash', ['-c', toService(curl)]);
    const body = JSON.parse(stdout) as { id: string; choices: Array<{ message: { content: string } }> };
    expect(body.id).toBe('chatcmpl-readme-curl-1');
    expect(body.choices[0]!.message.content.length).toBeGreaterThan(0);
  });

  it('the openai client snippet streams a story and prints the request id', async () => {
    const snippet = blocks('js').find((block) => block.includes("from 'openai'"))!;
    const file = `${root}.readme-snippet-${process.pid}.mjs`;
    writeFileSync(file, toService(snippet));
    try {
      const { stdout } = await run(process.execPath, [file], { cwd: root });
      expect(stdout.trim().endsWith('request id: readme-sdk-1')).toBe(true);
      expect(stdout.split('request id:')[0]!.trim().length).toBeGreaterThan(0);
    } finally {
      rmSync(file);
    }
  });
});

// The "Use it in your own Nest app" section shows the files test/consumer builds into fresh apps.
describe('README: use it in your own Nest app', () => {
  const section = readme.slice(readme.indexOf('## Use it in your own Nest app'), readme.indexOf('## ', readme.indexOf('## Use it in your own Nest app') + 3));
  const files = [...section.matchAll(/```ts\n\/\/ ([\w.-]+\.ts)\n([\s\S]*?)```/g)].map((m) => ({ name: m[1]!, code: m[2]! }));
  const fixtures = `${root}test/consumer/fixtures/`;

  it('shows the consumer apps\' module, controller and traced provider as they are', () => {
    for (const name of ['app.module.ts', 'whoami.controller.ts', 'slow-work.service.ts']) {
      expect(files.find((file) => file.name === name)?.code).toBe(readFileSync(`${fixtures}app-src/${name}`, 'utf8'));
    }
  });

  it('shows main.ts lines that the Express app runs', () => {
    const main = readFileSync(`${fixtures}express-cjs/main.ts`, 'utf8').split('\n').map((line) => line.trim());
    const shown = files.find((file) => file.name === 'main.ts')!.code.split('\n').filter((line) => line.trim() !== '');
    for (const line of shown) expect(main).toContain(line.trim());
  });
});

