import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Library, PackedWorkspaces } from './pack-workspaces.js';
import { repoVersion } from './repo-versions.js';
import { runCommand } from './run-command.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;

/** A Nest app as a user of the published package would write it, in a folder of its own. */
export interface ConsumerAppSpec {
  /** Its package name, and its folder's. */
  name: string;
  /** The folders under test/consumer/fixtures/ whose .ts files make its src/, its main.ts among them. */
  sources: string[];
  /** The packed libraries it installs, all in one `npm install`. */
  libraries: Library[];
  /** `module`: "type": "module" in its package.json. `commonjs`: no "type", so tsc emits require(). */
  moduleType: 'module' | 'commonjs';
  /** Its HTTP platform's packages (the Nest adapter and the server), besides what every Nest app has. */
  platform: string[];
}

const NEST_APP_PACKAGES = ['@nestjs/common', '@nestjs/core', 'reflect-metadata', 'rxjs', 'typescript', '@types/node'];

/**
 * Writes the app into `parent/<name>` (package.json with its libraries' tarballs and the repository's
 * versions of everything else, tsconfig.json, the sources), installs it with npm and compiles it with
 * its own tsc. Resolves with the app's folder.
 */
export async function buildConsumerApp(
  spec: ConsumerAppSpec,
  parent: string,
  tarballs: PackedWorkspaces,
): Promise<string> {
  const dir = join(parent, spec.name);
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify(packageJson(spec, tarballs), null, 2));
  await copyFile(join(FIXTURES, 'app-tsconfig.json'), join(dir, 'tsconfig.json'));
  for (const folder of spec.sources) await copySources(join(FIXTURES, folder), join(dir, 'src'));
  await runCommand(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-progress', '--loglevel=error'],
    { cwd: dir, timeoutMs: 150_000 },
  );
  await runCommand(process.execPath, [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
    cwd: dir,
    timeoutMs: 60_000,
  });
  return dir;
}

function packageJson(spec: ConsumerAppSpec, tarballs: PackedWorkspaces): Record<string, unknown> {
  const dependencies: Record<string, string> = {};
  for (const library of spec.libraries) dependencies[`@threadline/${library}`] = `file:${tarballs[library]}`;
  for (const name of [...NEST_APP_PACKAGES, ...spec.platform]) dependencies[name] = repoVersion(name);
  return {
    name: spec.name,
    version: '1.0.0',
    private: true,
    ...(spec.moduleType === 'module' ? { type: 'module' } : {}),
    scripts: { build: 'tsc -p tsconfig.json', start: 'node dist/main.js' },
    dependencies,
  };
}

async function copySources(from: string, to: string): Promise<void> {
  for (const file of await readdir(from)) {
    if (file.endsWith('.ts')) await copyFile(join(from, file), join(to, file));
  }
}
