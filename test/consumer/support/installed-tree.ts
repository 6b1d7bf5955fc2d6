import { readdir, readFile } from 'node:fs/promises';
import { join, sep } from 'node:path';

/** Every path under `dir/node_modules`, relative to `dir`, nested node_modules included. */
export async function installedPaths(dir: string): Promise<string[]> {
  const entries = await readdir(join(dir, 'node_modules'), { recursive: true });
  return entries.map((entry) => join('node_modules', entry));
}

/** The installed copies of package `name`: each `…/node_modules/<name>` folder that holds a package.json. */
export function copiesOf(paths: string[], name: string): string[] {
  const manifest = `${sep}${join('node_modules', name, 'package.json')}`;
  return paths
    .filter((path) => `${sep}${path}`.endsWith(manifest))
    .map((path) => path.slice(0, -`${sep}package.json`.length));
}

/** The paths whose last segment is `name`: a folder (or file) of that name anywhere in the tree. */
export function entriesNamed(paths: string[], name: string): string[] {
  return paths.filter((path) => path.split(sep).at(-1) === name);
}

/** Where npm got the package it installed at `path` (`node_modules/<name>`): its `resolved` in the app's package-lock.json. */
export async function lockedResolution(dir: string, path: string): Promise<string | undefined> {
  const lock = JSON.parse(await readFile(join(dir, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { resolved?: string }>;
  };
  return lock.packages[path]?.resolved;
}
