import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './root';

/**
 * .env.template is the one hand-written list of settings; docs/CONFIGURATION.md is generated from it. A setting
 * there is one or more `# description` lines followed by a `# KEY=value` line holding its default; sections
 * start with `# --- Title ---`.
 */
export interface TemplateSetting {
  key: string;
  /** The default as written in the template; empty means "see the description". */
  value: string;
  description: string;
}

export interface TemplateSection {
  title: string;
  settings: TemplateSetting[];
}

export const ROOT = repoRoot();
export const TEMPLATE_PATH = path.join(ROOT, '.env.template');
export const CONFIGURATION_DOC_PATH = path.join(ROOT, 'docs', 'CONFIGURATION.md');

const SECTION = /^# --- (.+) ---$/;
export const SETTING = /^# ([A-Z][A-Z0-9_]*)=(.*)$/;

export function parseEnvTemplate(text: string): TemplateSection[] {
  const sections: TemplateSection[] = [];
  let description: string[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    const where = `.env.template line ${index + 1}`;
    const section = SECTION.exec(line);
    const setting = SETTING.exec(line);
    if (section) {
      sections.push({ title: section[1], settings: [] });
      description = [];
    } else if (setting) {
      const current = sections.at(-1);
      if (!current) throw new Error(`${where}: a setting before the first section`);
      if (description.length === 0) throw new Error(`${where}: ${setting[1]} has no description above it`);
      current.settings.push({ key: setting[1], value: setting[2], description: description.join(' ') });
      description = [];
    } else if (line.startsWith('#')) {
      // Lines before the first section are the file's own header, not a setting's description.
      if (sections.length > 0) description.push(line.replace(/^# ?/, ''));
    } else if (line.trim() === '') {
      if (description.length > 0) throw new Error(`${where}: a description not followed by its # KEY=value line`);
    } else {
      throw new Error(`${where}: every line is a comment (uncomment a copy, not the template)`);
    }
  }
  return sections;
}

/** Markdown text outside code spans, with the characters that would turn into markup escaped. */
function markdownText(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/([\\*<>|[\]])/g, '\\$1')))
    .join('');
}

/** The page as written, not reformatted: .prettierignore lists it, like every generated file. */
export function renderConfigurationDoc(templateText: string): string {
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated from .env.template by `make generate`: edit that file, not this one. A test checks they agree. -->',
    '',
    'Every setting is an environment variable, read once at start by `src/platform/config.ts` (the only code that reads the',
    'environment). An invalid value stops the service at start with a message that names the setting (exit code 2).',
    'Integers are whole numbers; booleans accept true/false, 1/0, yes/no, on/off; an empty value means the default.',
    '',
    'The service does not read a `.env` file by itself. [`.env.template`](../.env.template) lists the same settings',
    'as commented `KEY=value` lines holding their defaults: copy it to `.env`, uncomment what you change, then',
    '`set -a; . ./.env; set +a; make run`. docker compose reads the same `.env` (`env_file`).',
  ];
  for (const section of parseEnvTemplate(templateText)) {
    lines.push('', `## ${section.title.charAt(0).toUpperCase()}${section.title.slice(1)}`, '');
    lines.push('| Setting | Default | Meaning |', '| --- | --- | --- |');
    for (const s of section.settings) {
      const value = s.value === '' ? 'empty' : `\`${s.value}\``;
      lines.push(`| \`${s.key}\` | ${value} | ${markdownText(s.description)} |`);
    }
  }
  return lines.join('\n') + '\n';
}

export function configurationDocFromTemplate(): string {
  return renderConfigurationDoc(fs.readFileSync(TEMPLATE_PATH, 'utf8'));
}
