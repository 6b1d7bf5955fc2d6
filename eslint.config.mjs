// ESLint for the whole repository: the TypeScript sources with type information (each file is checked
// against the tsconfig.json nearest to it), the plain .mjs files with the JavaScript rules only.
// eslint-config-prettier comes last so that no rule here argues with Prettier about layout.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier/flat';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { defineConfig } from 'eslint/config';

export default defineConfig(
  {
    ignores: [
      '**/node_modules/',
      '**/dist/',
      'dist-bench/',
      'coverage/',
      'bench/.tmp/',
      'bench/results*/',
      '.readme-snippet-*.mjs',
    ],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked, tseslint.configs.stylisticTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // The house style: `T[]` for a plain element type, `Array<...>` once the element is a union or a literal type.
      '@typescript-eslint/array-type': ['error', { default: 'array-simple' }],
      // `async` without `await` is deliberate here: endpoints, transports and Nest hooks promise a Promise, and
      // `async` turns a synchronous throw into a rejection.
      '@typescript-eslint/require-await': 'off',
      // Empty bodies are the no-ops an interface or a callback asks for (close() with nothing to close, ignored events).
      '@typescript-eslint/no-empty-function': 'off',
      // A leading underscore marks a parameter or a destructured field kept for its position or left out on purpose.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // A mixin's constructor type must be `new (...args: any[])`: TypeScript accepts no other spelling.
      '@typescript-eslint/no-explicit-any': ['error', { ignoreRestArgs: true }],
      // Passing on a rejection that came from elsewhere (a caught `unknown`) is fine; inventing a non-Error is not.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    files: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
    rules: {
      // Tests build streams that throw before their first item on purpose.
      'require-yield': 'off',
    },
  },
  {
    // The consumer apps are compiled by test/consumer inside a packed install, with their own tsconfig:
    // no project here knows them, so they get the rules that need no types.
    files: ['test/consumer/fixtures/**/*.ts'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { ...globals.node } },
  },
  prettier,
);
