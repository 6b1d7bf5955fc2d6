import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import ts from 'typescript';
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
  const section = readme.slice(
    readme.indexOf('## Use it in your own Nest app'),
    readme.indexOf('## ', readme.indexOf('## Use it in your own Nest app') + 3),
  );
  const files = [...section.matchAll(/```ts\n\/\/ ([\w.-]+\.ts)\n([\s\S]*?)```/g)].map((m) => ({
    name: m[1]!,
    code: m[2]!,
  }));
  const fixtures = `${root}test/consumer/fixtures/`;

  it("shows the consumer apps' module, controller and traced provider as they are", () => {
    for (const name of ['app.module.ts', 'whoami.controller.ts', 'slow-work.service.ts']) {
      expect(files.find((file) => file.name === name)?.code).toBe(readFileSync(`${fixtures}app-src/${name}`, 'utf8'));
    }
  });

  it('shows main.ts lines that the Express app runs', () => {
    const main = readFileSync(`${fixtures}express-cjs/main.ts`, 'utf8')
      .split('\n')
      .map((line) => line.trim());
    const shown = files
      .find((file) => file.name === 'main.ts')!
      .code.split('\n')
      .filter((line) => line.trim() !== '');
    for (const line of shown) expect(main).toContain(line.trim());
  });
});

// Every ```ts block of README.md and docs/*.md is type-checked against the packages' sources, so a
// snippet cannot drift from the API it shows. A block that starts with `// name.ts` is a file of its
// document (blocks of one document can import each other); any other block is a module of its own;
// a block after `<!-- fragment -->` (or `<!-- fragment: <declarations> -->`) is checked inside a
// function, with the names it uses imported from its document's files and the packages below.

/** Where a fragment's free names come from, first match wins. */
const FRAGMENT_MODULES = [
  '@threadline/tracing',
  '@threadline/runtime',
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/platform-fastify',
  '@nestjs/platform-express',
  'nestjs-pino',
  'nestjs-cls',
];

interface TsBlock {
  /** The document, relative to the repository root, and the line of the block's opening fence. */
  doc: string;
  line: number;
  code: string;
  /** The file name of a `// name.ts` block. */
  name?: string;
  /** A fragment's declarations (empty for a bare `<!-- fragment -->`); undefined for a whole file. */
  fragment?: string;
}

function tsBlocks(doc: string, text: string): TsBlock[] {
  return [...text.matchAll(/```(?:ts|typescript)\n([\s\S]*?)```/g)].map((match) => {
    const before = text.slice(0, match.index).trimEnd();
    const marker = /<!--\s*fragment\b((?:(?!-->)[\s\S])*)-->$/.exec(before);
    return {
      doc,
      line: text.slice(0, match.index).split('\n').length,
      code: match[1]!,
      name: /^\/\/ ([\w.-]+\.ts)\n/.exec(match[1]!)?.[1],
      fragment: marker === null ? undefined : marker[1]!.replace(/^\s*:/, '').trim(),
    };
  });
}

/** The names each module exports, read by the compiler. */
function moduleExports(program: ts.Program, probe: string): Map<string, string[]> {
  const checker = program.getTypeChecker();
  const exports = new Map<string, string[]>();
  for (const statement of program.getSourceFile(probe)!.statements) {
    if (!ts.isImportDeclaration(statement)) continue;
    const module = checker.getSymbolAtLocation(statement.moduleSpecifier);
    const specifier = (statement.moduleSpecifier as ts.StringLiteral).text;
    exports.set(specifier, module === undefined ? [] : checker.getExportsOfModule(module).map((symbol) => symbol.name));
  }
  return exports;
}

/** Type-checks the ```ts blocks of `docs`; returns one message per error, naming the document and line. */
function checkTsBlocks(docs: Array<{ doc: string; text: string }>): { checked: number; errors: string[] } {
  const config = ts.getParsedCommandLineOfConfigFile(
    `${root}tsconfig.json`,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined },
  )!;
  // Snippets show pieces of an app: a name they declare and do not use is no error here.
  const options: ts.CompilerOptions = {
    ...config.options,
    noEmit: true,
    incremental: false,
    noUnusedLocals: false,
    noUnusedParameters: false,
  };
  const base = `${root}.doc-snippets/`;
  const files = new Map<string, string>();
  const dirs = new Set([base.slice(0, -1)]);
  /** Where each virtual file's block starts: its document, the fence's line, the file line of the block's first line. */
  const origin = new Map<string, { doc: string; line: number; firstLine: number }>();

  const host = ts.createCompilerHost(options, true);
  const readSource = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, language, onError, create) => {
    const text = files.get(fileName);
    return text === undefined
      ? readSource(fileName, language, onError, create)
      : ts.createSourceFile(fileName, text, language, true);
  };
  host.fileExists = (fileName) => files.has(fileName) || ts.sys.fileExists(fileName);
  host.readFile = (fileName) => files.get(fileName) ?? ts.sys.readFile(fileName);
  host.directoryExists = (dir) => dirs.has(dir.replace(/\/$/, '')) || ts.sys.directoryExists(dir);
  host.realpath = (path) => (files.has(path) || dirs.has(path) ? path : (ts.sys.realpath?.(path) ?? path));

  const probe = `${base}exports-probe.ts`;
  files.set(probe, FRAGMENT_MODULES.map((specifier, i) => `import * as m${i} from '${specifier}';`).join('\n'));
  const probeProgram = ts.createProgram([probe], options, host);
  const packageExports = moduleExports(probeProgram, probe);
  files.delete(probe);

  const blocks = docs.flatMap(({ doc, text }) => tsBlocks(doc, text));
  for (const block of blocks) {
    const dir = `${base}${block.doc.replace(/[^\w-]/g, '_')}`;
    dirs.add(dir);
    if (block.fragment === undefined) {
      const file = `${dir}/${block.name ?? `block-${block.line}.ts`}`;
      files.set(file, block.code);
      origin.set(file, { doc: block.doc, line: block.line, firstLine: 0 });
      continue;
    }
    // The document's own files first, then the packages: the first that exports a name used gives it.
    const sources: Array<[string, string[]]> = [
      ...blocks
        .filter((other) => other.doc === block.doc && other.name !== undefined && other.fragment === undefined)
        .map((other): [string, string[]] => [
          `./${other.name!.replace(/\.ts$/, '.js')}`,
          [
            ...other.code.matchAll(/^export (?:abstract )?(?:class|function|const|let|interface|type|enum) (\w+)/gm),
          ].map((m) => m[1]!),
        ]),
      ...packageExports,
    ];
    const used = new Set((block.code + block.fragment).match(/[A-Za-z_$][\w$]*/g));
    const taken = new Set<string>();
    const imports = sources.flatMap(([specifier, names]) => {
      const wanted = names.filter((name) => used.has(name) && !taken.has(name));
      wanted.forEach((name) => taken.add(name));
      return wanted.length === 0 ? [] : [`import { ${wanted.join(', ')} } from '${specifier}';`];
    });
    const head = [
      ...imports,
      block.fragment,
      `export async function fragmentAtLine${block.line}(): Promise<void> {`,
    ].join('\n');
    const file = `${dir}/fragment-${block.line}.ts`;
    files.set(file, `${head}\n${block.code}}\n`);
    origin.set(file, { doc: block.doc, line: block.line, firstLine: head.split('\n').length });
  }

  const program = ts.createProgram([...origin.keys()], options, host, probeProgram);
  const errors = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map((d) =>
    ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  );
  for (const [file, from] of origin) {
    const source = program.getSourceFile(file)!;
    for (const diagnostic of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
      const { line } = source.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      const where =
        line < from.firstLine
          ? `${from.doc}, the fragment marker before line ${from.line}`
          : `${from.doc}:${from.line + 1 + line - from.firstLine}`;
      errors.push(`${where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`);
    }
  }
  return { checked: origin.size, errors };
}

describe('the TypeScript blocks of README.md and docs/*.md', () => {
  const docs = [
    { doc: 'README.md', text: readme },
    ...readdirSync(`${root}docs`)
      .filter((file) => file.endsWith('.md'))
      .sort()
      .map((file) => ({ doc: `docs/${file}`, text: readFileSync(`${root}docs/${file}`, 'utf8') })),
  ];

  it("type-check against the packages' sources, every one of them", () => {
    const { checked, errors } = checkTsBlocks(docs);
    expect(errors).toEqual([]);
    expect(checked).toBe(docs.reduce((sum, { doc, text }) => sum + tsBlocks(doc, text).length, 0));
    expect(tsBlocks('README.md', readme).length).toBeGreaterThanOrEqual(5);
  }, 180_000);

  it('fail on a snippet with a wrong signature, whole or a fragment', () => {
    const wrong = [
      '```ts',
      "import { RuntimeModule } from '@threadline/runtime';",
      '',
      'export const runtime = RuntimeModule.forRoot({ components: [], replicas: 2 });',
      '```',
      '',
      '<!-- fragment -->',
      '```ts',
      'RequestTracingModule.forRoot({ header: 42 });',
      '```',
      '',
      '<!-- fragment: declare const port: number; -->',
      '```typescript',
      'const app = await NestFactory.create(AppModule, new FastifyAdapter());',
      "await app.listen(port, '127.0.0.1');",
      '```',
      '',
    ].join('\n');
    const { checked, errors } = checkTsBlocks([{ doc: 'wrong.md', text: wrong }]);
    expect(checked).toBe(3);
    expect(errors).toEqual([
      expect.stringMatching(/^wrong\.md:4: .*Record<string, number>/),
      expect.stringMatching(/^wrong\.md:9: .*number.*string/s),
      expect.stringMatching(/^wrong\.md:14: .*AppModule/),
    ]);
  }, 180_000);
});
