import { Command } from 'commander';
import { TenantKv } from '@tenantkv/client';
import { configPath, readConfig, writeConfig } from '../config-file';
import { serviceUrl } from '../context';
import { readPassword } from '../input';
import { printLine } from '../output';

export function loginCommand(): Command {
  return new Command('login')
    .description('log in as a tenant and keep the token for the kv commands')
    .argument('<user>', "the tenant's user name")
    .option('--password-stdin', 'read the password from stdin (one line) instead of asking for it')
    .addHelpText(
      'after',
      `
The password is asked for on the terminal, not echoed. The token is kept, per service URL, in
$XDG_CONFIG_HOME/tenantkv/config.json (~/.config/tenantkv/config.json), readable by you only (mode 0600), until
it expires; TENANTKV_TOKEN, when set, is used instead. Exits 5 on a wrong user name or password.

Examples:
  $ tenantkv login alice
  $ tenantkv --url https://kv.example.com login alice
  $ printf '%s\\n' "$PASSWORD" | tenantkv login alice --password-stdin`,
    )
    .action(async (user: string, o: { passwordStdin?: boolean }, command: Command) => {
      const url = serviceUrl(command);
      const password = await readPassword(Boolean(o.passwordStdin));
      const { token, expires_at } = await new TenantKv({ baseUrl: url }).login(user, password);
      const config = readConfig();
      writeConfig({ url, logins: { ...config.logins, [url]: { user_name: user, token, expires_at } } });
      printLine(`logged in to ${url} as ${user} until ${expires_at} (token kept in ${configPath()})`);
    });
}

export function logoutCommand(): Command {
  return new Command('logout')
    .description('forget the token kept for the service')
    .addHelpText('after', '\nExample:\n  $ tenantkv logout')
    .action((_o: unknown, command: Command) => {
      const url = serviceUrl(command);
      const config = readConfig();
      if (!config.logins[url]) return printLine(`not logged in to ${url}`);
      const { [url]: _forgotten, ...logins } = config.logins;
      writeConfig({ url: config.url, logins });
      printLine(`logged out of ${url}`);
    });
}
