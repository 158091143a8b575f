import fs from 'node:fs';
import path from 'node:path';

/** The folder holding package.json and swagger.yaml, whether this runs from scripts/ (tests) or dist/scripts/. */
export function repoRoot(from = __dirname): string {
  let dir = from;
  while (!fs.existsSync(path.join(dir, 'swagger.yaml'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`swagger.yaml not found above ${from}`);
    dir = parent;
  }
  return dir;
}
