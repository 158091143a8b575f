import fs from 'node:fs';
import path from 'node:path';
import { API_TYPES_PATH, renderApiTypes } from './api-types';
import { CONFIGURATION_DOC_PATH, configurationDocFromTemplate } from './config-doc';

/** `make generate`: docs/CONFIGURATION.md from .env.template, and the client's types (packages/client/src/api.ts) from swagger.yaml. */
function main(): void {
  const outputs: [string, string][] = [
    [CONFIGURATION_DOC_PATH, configurationDocFromTemplate()],
    [API_TYPES_PATH, renderApiTypes()],
  ];
  for (const [file, text] of outputs) {
    const name = path.relative(process.cwd(), file);
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8') === text) {
      console.log(`${name}: up to date`);
      continue;
    }
    fs.writeFileSync(file, text);
    console.log(`${name}: written`);
  }
}

main();
