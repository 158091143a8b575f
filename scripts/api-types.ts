import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './root';

export const ROOT = repoRoot();
export const SWAGGER_PATH = path.join(ROOT, 'swagger.yaml');
/** Checked in, so that `make lint` type-checks the typed client against it; a test checks it is in step. */
export const API_TYPES_PATH = path.join(ROOT, 'test', 'support', 'typed-client', 'api.d.ts');

const HEADER = '// Generated from swagger.yaml by openapi-typescript (`make generate`). Do not edit.\n';

/**
 * TypeScript types of swagger.yaml, as openapi-typescript's CLI writes them for any client (.prettierignore lists
 * the file). The CLI runs in its own process: openapi-typescript loads ES modules, which jest's CommonJS
 * sandbox cannot.
 */
export function renderApiTypes(): string {
  const cli = path.join(path.dirname(require.resolve('openapi-typescript/package.json')), 'bin', 'cli.js');
  const out = execFileSync(process.execPath, [cli, SWAGGER_PATH], { cwd: ROOT, encoding: 'utf8' });
  return HEADER + out;
}
