// A Node ESM loader that runs the project's TypeScript sources as they are, so that tests can start
// src/main.ts as its own process without a build: each file is transpiled on load (with the decorator
// metadata Nest needs), `./x.js` finds `./x.ts`, and `--conditions=threadline-source` resolves the
// workspace packages to their sources. Output is cached on disk, keyed by everything that shapes it, so
// processes after the first boot fast; any cache failure falls back to transpiling.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const CACHE_DIR = fileURLToPath(new URL('../../node_modules/.cache/threadline-ts-loader/', import.meta.url));
const OPTIONS = 'module=ESNext;target=ES2023;experimentalDecorators;emitDecoratorMetadata;isolatedModules';
const TS_VERSION = (() => {
  try {
    return JSON.parse(readFileSync(createRequire(import.meta.url).resolve('typescript/package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
})();

let typescript;

export async function resolve(specifier, context, next) {
  if (context.parentURL?.endsWith('.ts') && /^\.\.?\//.test(specifier) && specifier.endsWith('.js')) {
    const url = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL);
    if (existsSync(url)) return { url: url.href, format: 'module', shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const fileName = fileURLToPath(url);
  const source = readFileSync(fileName, 'utf8');
  const key = createHash('sha256').update(`${TS_VERSION}\0${OPTIONS}\0${fileName}\0${source}`).digest('hex');
  const cached = readCache(key);
  if (cached !== undefined) return { format: 'module', source: cached, shortCircuit: true };
  typescript ??= (await import('typescript')).default;
  const ts = typescript;
  const { outputText } = ts.transpileModule(source, {
    fileName,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2023,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      isolatedModules: true,
    },
  });
  writeCache(key, outputText);
  return { format: 'module', source: outputText, shortCircuit: true };
}

function readCache(key) {
  try {
    return readFileSync(`${CACHE_DIR}${key}.js`, 'utf8');
  } catch {
    return undefined;
  }
}

function writeCache(key, text) {
  try {
    mkdirSync(CACHE_DIR, { recursive: true });
    // Written aside, then renamed into place: a process reading concurrently sees all of it or none.
    const partial = `${CACHE_DIR}${key}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(partial, text);
    renameSync(partial, `${CACHE_DIR}${key}.js`);
  } catch {
    // The cache is an optimisation only.
  }
}
