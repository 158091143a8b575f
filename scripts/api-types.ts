import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './root';

export const ROOT = repoRoot();
export const SWAGGER_PATH = path.join(ROOT, 'swagger.yaml');
/**
 * The one generated copy: @tenantkv/client is typed by it (and ships it), the test support's typed client imports
 * it. Checked in, so that `make lint` type-checks both against it; a test checks it is in step. A .ts file rather
 * than a .d.ts, so that the client's build emits it next to the declarations that import it.
 */
export const API_TYPES_PATH = path.join(ROOT, 'packages', 'client', 'src', 'api.ts');

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
