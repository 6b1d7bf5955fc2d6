import { readFileSync } from 'node:fs';

const ROOT_MODULES = new URL('../../../node_modules/', import.meta.url);

/**
 * The version of `name` this repository has installed, as its package-lock.json chose it: the consumer
 * apps ask for the same, so npm finds them in its cache.
 */
export function repoVersion(name: string): string {
  const manifest = JSON.parse(readFileSync(new URL(`${name}/package.json`, ROOT_MODULES), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}
