import fs from 'node:fs';
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

/**
 * The layers, as lint rules rather than as a picture (docs/ARCHITECTURE.md):
 * - db/migrations import nothing from src/: a shipped migration must not change when src/ does;
 * - src/platform/ knows no feature; the composition root (container, app, routes, server) knows them all;
 * - a feature imports another feature only through that feature's index.ts, never its files;
 * - repositories decide nothing and know no HTTP; controllers run no SQL;
 * - only the dialect folder talks to a database driver.
 */
const features = fs.readdirSync('src/features', { withFileTypes: true }).filter((d) => d.isDirectory());
const featureZones = features.map(({ name }) => ({
  target: `./src/features/${name}`,
  from: './src/features',
  except: [`./${name}`, ...features.filter((f) => f.name !== name).map((f) => `./${f.name}/index.ts`)],
  message: `import another feature through its index.ts, not its files`,
}));

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'dist-bench/',
      'dist-test/',
      'node_modules/',
      'coverage/',
      'data/',
      'bench/results/',
      'packages/*/dist/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**/*.ts', 'db/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'] })] },
    rules: {
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            { target: './db', from: './src', message: 'a migration carries its own SQL (db/schema.ts is shared)' },
            {
              target: './src/platform',
              from: ['./src/features', './src/container.ts', './src/app.ts', './src/routes.ts', './src/server.ts'],
              message: 'the platform serves every feature and knows none',
            },
            ...featureZones,
            {
              target: './src/**/*.repository.ts',
              from: [
                './src/**/*.service.ts',
                './src/**/*.controller.ts',
                './src/**/*.routes.ts',
                './src/platform/http/**',
              ],
              message: 'a repository runs SQL and nothing else',
            },
          ],
        },
      ],
      'no-restricted-imports': [
        'error',
        {
          paths: ['mysql2', 'mysql2/promise', 'better-sqlite3'].map((name) => ({
            name,
            message: 'drivers belong to src/platform/db/dialect',
          })),
        },
      ],
    },
  },
  {
    files: ['src/platform/db/dialect/**/*.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['src/**/*.repository.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'express', message: 'a repository knows no HTTP' }] }],
    },
  },
  {
    files: ['src/**/*.controller.ts', 'src/**/*.routes.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['knex', 'mysql2', 'better-sqlite3'].map((name) => ({ name, message: 'controllers run no SQL' })),
          patterns: [
            { group: ['**/*.repository', '!./*.repository'], message: 'controllers run no SQL of other features' },
          ],
        },
      ],
    },
  },
  {
    // @tenantkv/client runs in browsers too: fetch and web streams only, never a Node module.
    files: ['packages/client/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: builtinModules.map((name) => ({ name, message: 'the client runs in browsers: no Node modules' })),
          patterns: [{ group: ['node:*'], message: 'the client runs in browsers: no Node modules' }],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { module: 'writable', require: 'readonly', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
