import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * The layering rules of eslint.config.mjs, shown to bite: each import below breaks one rule and must be
 * reported; the allowed forms next to them must not be. (The files named need not exist; what they import does.)
 * ESLint loads its config with a dynamic import, which jest's module sandbox cannot run: the probes are linted
 * by one child process.
 */
const root = path.resolve(__dirname, '../../..');

const denied: [string, string, string][] = [
  ['a migration importing src/', 'db/migrations/99999999999999_probe.ts', "import '../../src/platform/config';"],
  ['the platform importing a feature', 'src/platform/probe.ts', "import '../features/objects';"],
  ['the platform importing the composition root', 'src/platform/db/probe.ts', "import '../../container';"],
  [
    'a feature importing another feature’s file',
    'src/features/admin/probe.ts',
    "import '../objects/objects.repository';",
  ],
  ['a repository importing a service', 'src/features/objects/probe.repository.ts', "import './objects.service';"],
  ['a repository importing express', 'src/features/objects/probe.repository.ts', "import 'express';"],
  ['a controller importing knex', 'src/features/objects/probe.controller.ts', "import 'knex';"],
  ['a service importing a database driver', 'src/features/objects/probe.service.ts', "import 'mysql2';"],
];
const allowed: [string, string, string][] = [
  ['a feature importing another feature’s index', 'src/features/admin/probe.ts', "import '../objects';"],
  ['a feature importing its own files', 'src/features/objects/probe.ts', "import './objects.repository';"],
  ['a feature importing the platform', 'src/features/objects/probe.ts', "import '../../platform/db/sql';"],
  ['a migration importing db/schema.ts', 'db/migrations/99999999999999_probe.ts', "import '../schema';"],
  ['the dialect importing its driver', 'src/platform/db/dialect/probe.ts', "import 'mysql2';"],
];

const LINT_PROBES = `
const { ESLint } = require('eslint');
const probes = JSON.parse(process.argv[1]);
(async () => {
  const eslint = new ESLint();
  const out = [];
  for (const [filePath, code] of probes) {
    const [result] = await eslint.lintText(code + '\\nexport const probe = 1;\\n', { filePath });
    out.push(result.messages.map((m) => m.ruleId + ': ' + m.message));
  }
  process.stdout.write(JSON.stringify(out));
})();
`;

const reports: string[][] = JSON.parse(
  execFileSync(
    process.execPath,
    ['-e', LINT_PROBES, JSON.stringify([...denied, ...allowed].map(([, f, c]) => [f, c]))],
    {
      cwd: root,
      encoding: 'utf8',
    },
  ),
);
const problems = (index: number): string[] => reports[index];

describe('the layering lint rules', () => {
  it.each(denied.map(([what], i) => [what, i] as const))('reports %s', (_what, i) => {
    expect(problems(i)).toEqual([expect.stringMatching(/no-restricted-(paths|imports)/)]);
  });

  it.each(allowed.map(([what], i) => [what, denied.length + i] as const))('allows %s', (_what, i) => {
    expect(problems(i)).toEqual([]);
  });
});
