import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './run-command.js';

const ROOT = new URL('../../..', import.meta.url).pathname;

/** The path of each library's tarball. */
export interface PackedWorkspaces {
  tracing: string;
  runtime: string;
}

/** A library by its short name: `@threadline/<name>`. */
export type Library = keyof PackedWorkspaces;

/** `npm pack` of both libraries into `destination`, as a publish would make them (prepack builds them). */
export async function packWorkspaces(destination: string): Promise<PackedWorkspaces> {
  await runCommand(
    'npm',
    ['pack', '-w', '@threadline/tracing', '-w', '@threadline/runtime', '--pack-destination', destination],
    {
      cwd: ROOT,
      timeoutMs: 120_000,
    },
  );
  const tarballs = await readdir(destination);
  const find = (prefix: string) => {
    const name = tarballs.find((file) => file.startsWith(prefix) && file.endsWith('.tgz'));
    if (name === undefined)
      throw new Error(`npm pack made no ${prefix}*.tgz in ${destination}: ${tarballs.join(', ')}`);
    return join(destination, name);
  };
  return { tracing: find('threadline-tracing-'), runtime: find('threadline-runtime-') };
}
