import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/platform/config';
import {
  CONFIGURATION_DOC_PATH,
  SETTING,
  TEMPLATE_PATH,
  parseEnvTemplate,
  renderConfigurationDoc,
} from '../../../scripts/config-doc';

/**
 * .env.template is the one hand-written list of settings. Uncommented whole, it must be a valid .env whose every
 * value is the service's default; it must name exactly the variables src/platform/config.ts reads; and
 * docs/CONFIGURATION.md must be what `make generate` makes of it.
 */
const ROOT = path.join(__dirname, '../../..');
const template = fs.readFileSync(TEMPLATE_PATH, 'utf8');
const sections = parseEnvTemplate(template);
const isComposeOnly = (title: string) => /docker compose only/i.test(title);
const isTestOnly = (title: string) => /test suite only/i.test(title);
const serviceSettings = sections
  .filter((s) => !isComposeOnly(s.title) && !isTestOnly(s.title))
  .flatMap((s) => s.settings);
const composeSettings = sections.filter((s) => isComposeOnly(s.title)).flatMap((s) => s.settings);
const testSettings = sections.filter((s) => isTestOnly(s.title)).flatMap((s) => s.settings);
const allSettings = sections.flatMap((s) => s.settings);

/** The template with every `# KEY=value` line uncommented, as a user would make their .env. */
const uncommented = template
  .split('\n')
  .map((line) => (SETTING.test(line) ? line.slice(2) : line))
  .join('\n');

/** What bash makes of the uncommented template with `set -a; . ./.env; set +a`, from an empty environment. */
function sourcedInBash(text: string): Record<string, string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-env-'));
  try {
    const file = path.join(dir, '.env');
    fs.writeFileSync(file, text);
    const out = execFileSync(
      'bash',
      ['--noprofile', '--norc', '-c', 'set -eu; set -a; . "$1"; set +a; env -0', 'bash', file],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        encoding: 'utf8',
      },
    );
    return Object.fromEntries(
      out
        .split('\0')
        .filter((entry) => entry !== '')
        .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The environment variable names src/platform/config.ts reads. */
function namesReadByConfig(): string[] {
  const source = fs.readFileSync(path.join(ROOT, 'src/platform/config.ts'), 'utf8');
  const names = new Set<string>();
  for (const m of source.matchAll(/\benv\s*,\s*'([A-Z][A-Z0-9_]*)'/g)) names.add(m[1]);
  for (const m of source.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) names.add(m[1]);
  return [...names].sort();
}

describe('.env.template', () => {
  it('has sections, and every setting a description and a commented KEY=value line', () => {
    expect(sections.length).toBeGreaterThan(3);
    expect(serviceSettings.length).toBeGreaterThan(20);
    for (const s of allSettings)
      expect({ key: s.key, description: s.description.length > 10 }).toEqual({ key: s.key, description: true });
    expect(new Set(allSettings.map((s) => s.key)).size).toBe(allSettings.length);
  });

  it('uncommented whole, sources in bash (set -a; . ./.env) to exactly the values written', () => {
    const env = sourcedInBash(uncommented);
    for (const s of allSettings) expect({ key: s.key, value: env[s.key] }).toEqual({ key: s.key, value: s.value });
  });

  it('holds only values that the shell, docker compose env_file and dotenv all read the same (no quotes, spaces, # or $)', () => {
    for (const s of allSettings)
      expect({ key: s.key, value: s.value }).toEqual({
        key: s.key,
        value: expect.stringMatching(/^[A-Za-z0-9_.:/@,+-]*$/),
      });
  });

  it('uncommented whole, gives the configuration of an empty environment: every value is the default', () => {
    const env = sourcedInBash(uncommented);
    const fromTemplate = Object.fromEntries(serviceSettings.map((s) => [s.key, env[s.key]]));
    expect(loadConfig(fromTemplate)).toEqual(loadConfig({}));
  });

  it.each(serviceSettings.map((s) => [s.key, s] as const))('%s alone, as written, is its default', (_key, s) => {
    expect(loadConfig({ [s.key]: s.value })).toEqual(loadConfig({}));
    // An empty value stands for a default that the description must spell out.
    if (s.value === '') expect(s.description).toMatch(/Empty|empty/);
  });

  it('names exactly the variables src/platform/config.ts reads', () => {
    expect(serviceSettings.map((s) => s.key).sort()).toEqual(namesReadByConfig());
  });

  it('gives the docker compose variables the defaults docker-compose.yml uses', () => {
    const compose = fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
    expect(composeSettings.length).toBeGreaterThan(0);
    for (const s of composeSettings) {
      const defaults = [...compose.matchAll(new RegExp(`\\$\\{${s.key}:-([^}]*)\\}`, 'g'))].map((m) => m[1]);
      expect({ key: s.key, defaults: [...new Set(defaults)] }).toEqual({ key: s.key, defaults: [s.value] });
    }
  });

  it('gives the test-suite variables the defaults the suite uses', () => {
    const support = fs
      .readdirSync(path.join(ROOT, 'test/support'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => fs.readFileSync(path.join(ROOT, 'test/support', f), 'utf8'))
      .join('\n');
    expect(testSettings.length).toBeGreaterThan(0);
    for (const s of testSettings) {
      expect({ key: s.key, read: support.includes(`process.env.${s.key}`) }).toEqual({ key: s.key, read: true });
      if (s.value !== '') expect(support).toContain(`process.env.${s.key} ?? '${s.value}'`);
    }
  });

  it('is what docs/CONFIGURATION.md is generated from (run `make generate` after changing it)', () => {
    expect(fs.readFileSync(CONFIGURATION_DOC_PATH, 'utf8')).toBe(renderConfigurationDoc(template));
  });
});
