// The layering of the repository (npm run lint:layers). dependency-cruiser resolves every import the
// way TypeScript and Node do, workspace packages included, so a rule is about the file an import
// reaches, not the text of its specifier; type-only imports count too.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'tracing-stands-alone',
      comment: '@threadline/tracing is the bottom layer: it imports neither @threadline/runtime nor the service.',
      severity: 'error',
      from: { path: '^packages/tracing/' },
      to: { path: '^(packages/(?!tracing/)[^/]+/|src/)' },
    },
    {
      name: 'runtime-builds-on-tracing-only',
      comment: '@threadline/runtime may import @threadline/tracing, and neither the service nor another package.',
      severity: 'error',
      from: { path: '^packages/runtime/' },
      to: { path: '^(packages/(?!(runtime|tracing)/)[^/]+/|src/)' },
    },
    {
      name: 'packages-by-name',
      comment: 'Another package is imported by its name (its package.json exports), not by a relative path into it.',
      severity: 'error',
      from: { path: '^(packages/[^/]+/|src/|test/|bench/)' },
      to: { path: '^packages/', pathNot: '^$1', dependencyTypes: ['local'], dependencyTypesNot: ['aliased'] },
    },
    {
      name: 'tests-and-benches-stay-out',
      comment: 'Only tests and benchmarks import from test/ or bench/.',
      severity: 'error',
      from: { pathNot: '^(test|bench)/|\\.(e2e-)?spec\\.ts$' },
      to: { path: '^(test|bench)/' },
    },
    {
      name: 'resolvable',
      comment: 'An import that cannot be resolved would slip past the rules above.',
      severity: 'error',
      // The consumer apps' main.ts meets its app.module.ts only when test/consumer assembles the app.
      from: { pathNot: '^test/consumer/fixtures/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|dist-bench|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // The packages' sources, as tsconfig.json and vitest resolve them (their exports' "threadline-source").
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['threadline-source', 'import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
      extensions: ['.ts', '.d.ts', '.mts', '.d.mts', '.js', '.mjs', '.cjs', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
