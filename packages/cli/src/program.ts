import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { adminCommand } from './commands/admin';
import { kvCommand } from './commands/kv';
import { loginCommand, logoutCommand } from './commands/login';
import { DEFAULT_URL } from './context';

function packageVersion(): string {
  const manifest = path.join(__dirname, '..', 'package.json');
  return (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string }).version;
}

/** What every command shares (commander copies settings only to the commands `.command()` makes). */
function configure(command: Command): void {
  command.exitOverride().showHelpAfterError('(add --help for usage)').showSuggestionAfterError();
  for (const sub of command.commands) configure(sub);
}

export function buildProgram(): Command {
  const program = new Command('tenantkv')
    .description("the tenantkv command line: a tenant's keys (kv), and provisioning for operators (admin)")
    // The program's own options go before the command (`tenantkv --url … kv get`), so that a command may have
    // options of the same name (`kv get --version 7`).
    .enablePositionalOptions()
    .version(packageVersion(), '-V, --version')
    .option('--url <url>', `the service (default: TENANTKV_URL, else the URL of the last login, else ${DEFAULT_URL})`)
    .addCommand(loginCommand())
    .addCommand(logoutCommand())
    .addCommand(kvCommand())
    .addCommand(adminCommand())
    .addHelpText(
      'after',
      `
Environment:
  TENANTKV_URL        the service, when --url is not given
  TENANTKV_TOKEN      a tenant's token (login or API token), instead of the one \`tenantkv login\` kept
  TENANTKV_ADMIN_KEY  an admin key, for the admin commands
  XDG_CONFIG_HOME     where the config file is kept ($XDG_CONFIG_HOME/tenantkv/config.json, else ~/.config/…)

Exit codes:
  0  ok
  1  bad usage, or another failure (a bad value, a broken audit chain, an import with bad lines)
  2  not found (key, version, tenant, token)
  3  precondition failed (--if-version, --if-absent)
  4  quota exceeded
  5  authentication or permission (no or bad token or key, wrong password, suspended, read-only)
  6  unavailable (the service cannot be reached, is busy or rate-limits, after retries)
Errors are printed on stderr with the service's message and code: error: quota exceeded (QUOTA_EXCEEDED)

Examples:
  $ tenantkv login alice
  $ tenantkv kv put users/42/profile '{"plan":"pro"}'
  $ tenantkv kv get users/42/profile
  $ tenantkv kv export backup.ndjson
  $ TENANTKV_ADMIN_KEY=... tenantkv admin tenants create acme --quota 10GiB --prompt-password

--url goes before the command (tenantkv --url https://kv.example.com kv ls). Each command has its own
help: tenantkv kv put --help`,
    );
  configure(program);
  return program;
}
