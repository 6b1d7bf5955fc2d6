import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Tests run on the packages' TypeScript sources: their package.json "exports" name them under this
// condition (tsconfig.json sets the same one), so `npm test` needs no build of packages/.
const SOURCE_CONDITION = 'threadline-source';

export default defineConfig({
  // Packages resolve as Node resolves them: Vite's bundler-only "module" condition can pick an ES build that
  // Node cannot load (OpenTelemetry's exporters have one).
  ssr: {
    resolve: {
      conditions: [SOURCE_CONDITION, ...defaultServerConditions.filter((condition) => condition !== 'module')],
    },
  },
  test: {
    setupFiles: ['reflect-metadata'],
    testTimeout: 30_000,
    // As long as a service process may take to start (`startFromSource`): a loaded machine compiles slowly.
    hookTimeout: 60_000,
    // Each file boots its own Nest apps on their own ports; two workers match the machines here.
    maxWorkers: 2,
    // The product's tests, and apart from them (counted on their own) the self-checks of the test helpers.
    // `npm test` runs each project in a run of its own, so that each prints its own count.
    projects: [
      {
        extends: true,
        test: {
          name: 'threadline',
          include: ['packages/*/src/**/*.spec.ts', 'src/**/*.spec.ts', 'test/**/*.e2e-spec.ts'],
        },
      },
      { extends: true, test: { name: 'test-support', include: ['test/support/**/*.spec.ts'] } },
    ],
  },
});
