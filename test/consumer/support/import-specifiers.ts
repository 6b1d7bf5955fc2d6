import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

const IMPORT_FROM = /(?:from|import|require\()\s*['"]([^'"]+)['"]/g;

/** Every module a folder's .ts/.js files import or require, each once, sorted. */
export async function importedModules(dir: string): Promise<string[]> {
  const specifiers = new Set<string>();
  for (const file of await readdir(dir)) {
    if (!/\.(ts|js)$/.test(file)) continue;
    for (const match of (await readFile(join(dir, file), 'utf8')).matchAll(IMPORT_FROM)) specifiers.add(match[1]!);
  }
  return [...specifiers].sort();
}
